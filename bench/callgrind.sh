#!/usr/bin/env bash
# Instructions per query, counted by valgrind's callgrind: a figure that stays stable on a
# noisy, shared machine where QPS does not (issue 6).
#
#   bench/callgrind.sh [micro] [--domains N] [--queries N] [--nx-every K] [--plugin minimal|mtasts]
#       Runs N queries through the worker's per-query path (QueryProcessor::process:
#       decode, chain, encode; no sockets) inside a micro-benchmark binary and counts only
#       the instructions spent in that loop (--toggle-collect). Default plugin: mtasts
#       (the real plugin over a RocksDB store) when its benchmark is built, else the
#       minimal stand-in (bench/micro/minimal_plugin.h).
#   bench/callgrind.sh server [--server stsd|knot|nsd] [--domains N] [--queries N] [--nx-every K]
#                             [--config FILE] [--edns-option CODE:HEX] [--label NAME]
#       Runs the real server under callgrind on the data `bench/run.sh` left in
#       build/release-bench/bench-work/<server>-N (stsd: its store; peers: their zone and
#       config), turns instrumentation on once it answers, sends exactly N queries with
#       dnsperf (rate-limited: valgrind is ~50x slower), and divides the user-space
#       instructions of the whole server (every thread and forked process) by the answers.
#       --config runs stsd with another config (e.g. more plugins, bench/protections);
#       --edns-option adds an EDNS option to every query (dnsperf -E, e.g. a DNS cookie
#       10:<hex>); --label names the output (server-<server>-<N>-<label>.out).
#
# Prints "instructions per query: X" and the functions that cost the most; keeps the
# callgrind output under build/release-bench/callgrind/ for callgrind_annotate/kcachegrind.
# Environment: STSD_BENCH_BUILD (default build/release-bench).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${STSD_BENCH_BUILD:-$root/build/release-bench}
mode=micro
domains=1000
queries=""
nx_every=0
plugin=""
server=stsd
config=""
edns_option=""
label=""
if [[ ${1:-} == micro || ${1:-} == server ]]; then mode=$1; shift; fi
while (($#)); do
  case $1 in
    --domains) domains=$2; shift 2 ;;
    --queries) queries=$2; shift 2 ;;
    --nx-every) nx_every=$2; shift 2 ;;
    --plugin) plugin=$2; shift 2 ;;
    --server) server=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --edns-option) edns_option=$2; shift 2 ;;
    --label) label=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "callgrind.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$domains" "${queries:-1}" "$nx_every"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "callgrind.sh: '$n' is not a whole number" >&2; exit 2; }
done
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is missing (scripts/deps.sh --bench)" >&2; exit 2; }
out_dir=$build/callgrind
mkdir -p "$out_dir"

# Sums the first event (Ir) over a callgrind output file (0 when nothing was collected).
total_ir() {
  local n
  n=$(callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }')
  [[ $n =~ ^[0-9]+$ ]] && echo "$n" || echo 0
}

if [[ $mode == micro ]]; then
  queries=${queries:-200000}
  if [[ -z $plugin ]]; then
    plugin=minimal
    [[ -x $build/bin/stsd_bench_mtasts ]] && plugin=mtasts
  fi
  case $plugin in
    minimal) binary=$build/bin/stsd_bench_micro ;;
    mtasts) binary=$build/bin/stsd_bench_mtasts ;;
    *) echo "callgrind.sh: --plugin is minimal or mtasts" >&2; exit 2 ;;
  esac
  [[ -x $binary ]] || { echo "callgrind.sh: $binary is not built (bench/run.sh builds it)" >&2; exit 2; }
  out=$out_dir/micro-$plugin-$domains-$nx_every.out
  # Only the instructions inside stsd_bench_fixed_queries (and what it calls) are counted:
  # the data set's set-up (store import, index build) is left out.
  valgrind --tool=callgrind --toggle-collect=stsd_bench_fixed_queries --callgrind-out-file="$out" \
    "$binary" --fixed-queries="$queries" --domains="$domains" --nx-every="$nx_every" >"$out.log" 2>&1 ||
    { cat "$out.log" >&2; exit 1; }
  answered=$queries
  what="$plugin plugin, $domains domains, QueryProcessor::process (decode + chain + encode)"
else
  queries=${queries:-20000}
  work=$build/bench-work/$server-$domains
  case $server in
    stsd) conf=${config:-$work/stsd.yaml}
          # valgrind 3.19 does not carry io_uring: under it stsd's io_uring loop starts and
          # never answers, so the count is of the recvmmsg loop (what udp.io: recvmmsg runs).
          if [[ -f $conf ]] && ! grep -q '^udp:' "$conf"; then
            mkdir -p "$out_dir"
            { cat "$conf"; echo "udp: { io: recvmmsg }"; } >"$out_dir/stsd-callgrind.yaml"
            conf=$out_dir/stsd-callgrind.yaml
          fi
          cmd=("$build/bin/stsd" --config "$conf")
          # The server block's listen list (a top-level metrics listen is not a list).
          port=$(awk -F'[:"]' '/listen: *\[/ { print $(NF-1); exit }' "$conf") ;;
    knot) conf=$work/knot.conf; cmd=(knotd -c "$conf")
          port=$(awk -F@ '/listen:/ { print $2; exit }' "$conf") ;;
    nsd)  conf=$work/nsd.conf; cmd=(nsd -d -c "$conf")
          port=$(awk -F@ '/ip-address:/ { print $2; exit }' "$conf") ;;
    *) echo "callgrind.sh: --server is stsd, knot or nsd" >&2; exit 2 ;;
  esac
  [[ -z $config || $server == stsd ]] || { echo "callgrind.sh: --config is for --server stsd" >&2; exit 2; }
  [[ -f $conf ]] ||
    { echo "callgrind.sh: no $server data for $domains domains in $work: run bench/run.sh first (e.g. --quick)" >&2; exit 2; }
  query_file=$build/bench-work/data-$domains/queries-$([[ $nx_every == 10 ]] && echo nx10 || echo hit).txt
  [[ -f $query_file ]] || { echo "callgrind.sh: $query_file is missing: run bench/run.sh first" >&2; exit 2; }
  out=$out_dir/server-$server-$domains${label:+-$label}.out
  rm -f "$out".*
  pid=""
  cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; true; }
  trap cleanup EXIT INT TERM
  # NSD forks its server processes: follow them, one output file per process (%p).
  valgrind --tool=callgrind --instr-atstart=no --trace-children=yes --callgrind-out-file="$out.%p" \
    "${cmd[@]}" >"$out.log" 2>&1 &
  pid=$!
  # Wait (bounded) until it answers, then instrument (and count) from here on.
  for _ in $(seq 1 600); do
    kdig +retry=0 +timeout=1 @127.0.0.1 -p "$port" "_mta-sts.dom0.example" TXT 2>/dev/null | grep -q 'status: NOERROR' && break
    kill -0 "$pid" 2>/dev/null || { cat "$out.log" >&2; exit 1; }
    sleep 0.5
  done
  tree() { local p=$1; echo "$p"; for c in $(pgrep -P "$p"); do tree "$c"; done; }
  pids=$(tree "$pid")
  # dnsperf -n 1 sends its file once: a copy cut to $queries lines.
  head -n "$queries" "$query_file" >"$out_dir/queries.txt"
  for p in $pids; do callgrind_control -i on "$p" >/dev/null 2>&1 || true; done
  perf_out=$(dnsperf -s 127.0.0.1 -p "$port" -d "$out_dir/queries.txt" -e ${edns_option:+-E "$edns_option"} \
    -n 1 -q 20 -Q 2000 -l $((queries / 1000 + 60)) -c 2 -t 5 </dev/null 2>&1 || true)
  for p in $pids; do callgrind_control -i off "$p" >/dev/null 2>&1 || true; done
  answered=$(awk '/Queries completed:/ { print $3 }' <<<"$perf_out")
  sent=$(awk '/Queries sent:/ { print $3 }' <<<"$perf_out")
  codes=$(sed -n 's/^ *Response codes: *//p' <<<"$perf_out")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  sleep 1   # forked processes write their output as they exit
  files=$(ls "$out".* | grep -v '\.log$')
  ir=0
  for f in $files; do ir=$((ir + $(total_ir "$f"))); done
  out=$(for f in $files; do echo "$(total_ir "$f") $f"; done | sort -n | tail -1 | cut -d' ' -f2)
  what="$server process (all threads and forked processes; user space: event loop, sockets, lookup, encoding), $domains domains"
fi

[[ $mode == server ]] || ir=$(total_ir "$out")
[[ -n $ir && -n $answered && $answered -gt 0 ]] || { echo "callgrind.sh: no instructions or answers counted (see $out)" >&2; exit 1; }
echo "$what"
if [[ $mode == server ]]; then
  echo "queries sent: $sent"
  echo "response codes: $codes"
fi
echo "queries answered: $answered"
echo "instructions: $ir"
echo "instructions per query: $((ir / answered))"
echo
echo "Most expensive functions (self cost):"
callgrind_annotate "$out" 2>/dev/null | sed -n '/file:function/,$p' | sed -n '3,22p' | cut -c1-200
echo
echo "Below QueryProcessor::process (inclusive):"
callgrind_annotate --inclusive=yes "$out" 2>/dev/null | sed -n '/QueryProcessor::process/,$p' | sed -n '1,16p' | cut -c1-200
