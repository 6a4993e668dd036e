#!/usr/bin/env bash
# Configures and builds stsd with a CMake preset (default: release). Used by run.sh,
# test.sh and bench/run.sh.
set -euo pipefail
preset=${1:-release}
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
