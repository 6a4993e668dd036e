#!/usr/bin/env bash
# The stsd benchmark against Knot DNS and NSD, in one command (see bench/README.md):
#   bench/run.sh            1k, 1M and 10M domains: the import timed, 3 rounds of 15 s per
#                           server and case (10M: UDP against Knot, 2 rounds); ~40 minutes
#                           once the import is fast (an import at 93 s per million adds ~25)
#   bench/run.sh --quick    1k domains served and a 50k import, 1 round of 3 s (under 3 minutes)
# Further options go to bench/harness.py (bench/run.sh --help lists them).
# Environment: STSD_BENCH_BUILD (default build/release-bench), STSD_BENCH_SKIP_DEPS=1,
# STSD_BENCH_SKIP_BUILD=1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${STSD_BENCH_BUILD:-$root/build/release-bench}

for arg in "$@"; do
  if [[ $arg == -h || $arg == --help ]]; then
    exec python3 "$root/bench/harness.py" --build-dir "$build" --help
  fi
done

if [[ ${STSD_BENCH_SKIP_DEPS:-0} != 1 ]]; then
  "$root/scripts/deps.sh" --bench
fi

if [[ ${STSD_BENCH_SKIP_BUILD:-0} != 1 ]]; then
  echo "bench: building stsd (Release) in $build" >&2
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSTSD_BUILD_TESTS=OFF -DSTSD_BUILD_BENCH=ON >/dev/null
  # stsctl and the micro-benchmarks are built when their targets exist; the harness
  # measures the peers only (and says so) when stsd or stsctl is missing.
  available=$(cmake --build "$build" --target help 2>/dev/null || true)
  targets=()
  for t in stsd stsctl stsd_bench_micro; do
    grep -qE "^$t[:]" <<<"$available" && targets+=("$t")
  done
  if ((${#targets[@]})); then
    cmake --build "$build" -j2 --target "${targets[@]}" >&2
  fi
fi

exec python3 "$root/bench/harness.py" --build-dir "$build" "$@"
