#!/usr/bin/env bash
# The zone-transfer benchmark (issue 13), in one command (see bench/README.md):
#   bench/xfr/run.sh            1,000 and 100,000 zones, Knot primary then stsd primary
#   bench/xfr/run.sh --quick    1,000 zones, 20 s of steady rotations (under 3 minutes)
# Further options go to bench/xfr/xfr_harness.py (--help lists them).
# Environment: STSD_BENCH_BUILD (default build/release-bench), STSD_BENCH_SKIP_DEPS=1,
# STSD_BENCH_SKIP_BUILD=1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${STSD_BENCH_BUILD:-$root/build/release-bench}

for arg in "$@"; do
  if [[ $arg == -h || $arg == --help ]]; then
    exec python3 "$root/bench/xfr/xfr_harness.py" --build-dir "$build" --help
  fi
done

if [[ ${STSD_BENCH_SKIP_DEPS:-0} != 1 ]]; then
  "$root/scripts/deps.sh"   # knot, bind9 (the secondaries and the Knot primary)
fi

if [[ ${STSD_BENCH_SKIP_BUILD:-0} != 1 ]]; then
  echo "xfr bench: building stsd and stsctl (Release) in $build" >&2
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSTSD_BUILD_TESTS=OFF -DSTSD_BUILD_BENCH=OFF >/dev/null
  cmake --build "$build" -j2 --target stsd stsctl >&2
fi

exec python3 "$root/bench/xfr/xfr_harness.py" --build-dir "$build" "$@"
