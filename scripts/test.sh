#!/usr/bin/env bash
# Second command of the README: install what is missing, build, and run every test
# (unit tests and end-to-end tests against the real binary on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh release
ctest --preset release -j2 --timeout 600 "$@"
