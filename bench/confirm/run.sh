#!/usr/bin/env bash
# The confirm-scheduler benchmark (issue 11), in one command (see bench/README.md):
#   bench/confirm/run.sh              100,000 domains x 2 vantages, max_concurrent_probes 16 and 128
#   bench/confirm/run.sh --domains 2000 --pass-limit 30     a smoke run
# Further options go to bench/confirm/confirm_harness.py (--help lists them).
# Environment: STSD_BENCH_BUILD (default build/release-bench), STSD_BENCH_SKIP_BUILD=1.
# Needs python3-cryptography (the certificates) and the loopback addresses 127.0.0.2-3.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${STSD_BENCH_BUILD:-$root/build/release-bench}

for arg in "$@"; do
  if [[ $arg == -h || $arg == --help ]]; then
    exec python3 "$root/bench/confirm/confirm_harness.py" --build-dir "$build" --help
  fi
done

if ! python3 -c 'import cryptography' 2>/dev/null; then
  echo "confirm bench: python3-cryptography is missing (apt-get install python3-cryptography)" >&2
  exit 2
fi

if [[ ${STSD_BENCH_SKIP_BUILD:-0} != 1 ]]; then
  echo "confirm bench: building stsd and stsctl (Release) in $build" >&2
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSTSD_BUILD_TESTS=OFF -DSTSD_BUILD_BENCH=OFF >/dev/null
  cmake --build "$build" -j2 --target stsd stsctl >&2
fi

exec python3 "$root/bench/confirm/confirm_harness.py" --build-dir "$build" "$@"
