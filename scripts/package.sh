#!/usr/bin/env bash
# Builds the Debian package: build/release/stsd_<version>_<arch>.deb (docs/operations.md).
# Installs missing build dependencies, builds only what the package holds (the programs,
# the man pages generated from docs/), then runs CPack. Same as
# `cmake --build --preset release --target package`, without building the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target stsd stsctl stsd_man_pages stsd_package_docs
cd build/release
cpack -G DEB
ls -1 "$PWD"/stsd_*.deb
