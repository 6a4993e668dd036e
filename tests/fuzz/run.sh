#!/usr/bin/env bash
# Builds the libFuzzer targets with the `fuzz` CMake preset (clang; the real libraries,
# instrumented, with ASan+UBSan) and runs each for a bounded time:
#   tests/fuzz/run.sh [SECONDS]      (default 60, per target)
# Exits non-zero when a target finds a crash; the input of the last run's crash is saved
# in build/fuzz/crashes/.
# ccache is used when CMAKE_CXX_COMPILER_LAUNCHER is set in the environment.
set -euo pipefail
seconds=${1:-60}
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
out="$top/build/fuzz"
command -v clang++ >/dev/null || { echo "fuzz: clang++ is missing (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }

build_fuzzers() {
  local configure=(cmake --preset fuzz)
  [[ -n "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ]] && configure+=("-DCMAKE_CXX_COMPILER_LAUNCHER=$CMAKE_CXX_COMPILER_LAUNCHER")
  (cd "$top" && "${configure[@]}" >/dev/null && cmake --build --preset fuzz)
}

# run_fuzzer <target> <corpus name> [libFuzzer flags...]: seeds the corpus from
# seeds/<corpus name>-* (libFuzzer adds what it finds to it); prints libFuzzer's summary,
# or the end of its report (the stack of the crash) when the target fails.
failed=()
run_fuzzer() {
  local target=$1 name=$2
  shift 2
  local corpus="$out/corpus-$name" seeds=("$here/seeds/$name"-*)
  mkdir -p "$corpus" "$out/crashes"
  rm -f "$out/crashes/$target-"*
  [[ -e "${seeds[0]}" ]] && cp "${seeds[@]}" "$corpus/"
  local log="$out/$target.log"
  echo "fuzz: $target for ${seconds}s"
  if "$out/bin/$target" -max_total_time="$seconds" -artifact_prefix="$out/crashes/$target-" "$@" "$corpus" >"$log" 2>&1; then
    tail -n 3 "$log"
  else
    tail -n 60 "$log"
    echo "fuzz: $target FAILED (report: $log, input: $out/crashes/$target-*)" >&2
    failed+=("$target")
  fi
}

build_fuzzers
run_fuzzer fuzz_query query -max_len=1024
run_fuzzer fuzz_policy policy -max_len=2048 -dict="$here/policy.dict"
run_fuzzer fuzz_admin admin -max_len=4096 -dict="$here/admin.dict"
if ((${#failed[@]})); then
  echo "fuzz: crashes in ${failed[*]}" >&2
  exit 1
fi
