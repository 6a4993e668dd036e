#!/usr/bin/env bash
# The cost of the DNS protections (issue 14), in one command (see bench/README.md):
#   bench/protections/run.sh            5 rounds of 10 s runs, 20,000 callgrind queries (~10 min)
#   bench/protections/run.sh --quick    1 round of 3 s runs, 3,000 callgrind queries (~3 min)
# stsd with the rrl and cookies plugins on vs off: UDP answers per server CPU-second and
# instructions per query; writes bench/results/<date>-protections[-quick].md.
# Further options go to bench/protections/protections_harness.py (--help lists them).
# Environment: STSD_BENCH_BUILD (default build/release-bench), STSD_BENCH_SKIP_DEPS=1,
# STSD_BENCH_SKIP_BUILD=1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${STSD_BENCH_BUILD:-$root/build/release-bench}

for arg in "$@"; do
  if [[ $arg == -h || $arg == --help ]]; then
    exec python3 "$root/bench/protections/protections_harness.py" --build-dir "$build" --help
  fi
done

if [[ ${STSD_BENCH_SKIP_DEPS:-0} != 1 ]]; then
  "$root/scripts/deps.sh" --bench   # dnsperf and valgrind; kdig (knot-dnsutils)
fi

if [[ ${STSD_BENCH_SKIP_BUILD:-0} != 1 ]]; then
  echo "protections bench: building stsd and stsctl (Release) in $build" >&2
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSTSD_BUILD_TESTS=OFF -DSTSD_BUILD_BENCH=ON >/dev/null
  cmake --build "$build" -j2 --target stsd stsctl >&2
fi

exec python3 "$root/bench/protections/protections_harness.py" --build-dir "$build" "$@"
