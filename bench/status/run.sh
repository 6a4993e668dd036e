#!/usr/bin/env bash
# The status page at scale: fills a store with N domains (bench/fill_store.cpp, the
# store's own import), starts stsd on it with the status page on loopback and times
# each kind of page with curl (the median of ROUNDS loads, full page fetched).
#   bench/status/run.sh [N=100000] [ROUNDS=5]
# Needs a release build of stsd and stsd_fill_store (build/release/bin, or STSD_BIN).
set -euo pipefail
count=${1:-100000}
rounds=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
bin=${STSD_BIN:-$here/../../build/release/bin}
work=$(mktemp -d /tmp/stsd-status-bench.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dns_port=$(free_port)
page_port=$(free_port)

"$bin/stsd_fill_store" "$work/stsd.db" "$count" >/dev/null 2>&1
cat > "$work/stsd.yaml" <<YAML
storage: $work/stsd.db
log_level: warning
servers:
  - listen: ["127.0.0.1:$dns_port"]
    plugins:
      mtasts:
        nameservers: [ns1.provider.test.]
        hostmaster: hostmaster.provider.test.
status:
  listen: "127.0.0.1:$page_port"
YAML
"$bin/stsd" --config "$work/stsd.yaml" >"$work/stsd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$page_port/style.css" && break; sleep 0.1; done

last=$((count - 1))
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {  # NAME PATH
  local times=() bytes=0
  for _ in $(seq "$rounds"); do
    read -r t b < <(curl -fs -o /dev/null -w '%{time_total} %{size_download}\n' "http://127.0.0.1:$page_port$2")
    times+=("$t")
    bytes=$b
  done
  printf '| %s | `%s` | %s | %s |\n' "$1" "$2" "$(printf '%s\n' "${times[@]}" | median | awk '{printf "%.1f", $1*1000}')" "$bytes"
}
echo "stsd status page, $count domains, median of $rounds loads ($(nproc) CPUs, $(date -u +%F))"
echo
echo "| page | request | ms | bytes |"
echo "|---|---|---|---|"
measure "first page" "/"
measure "a page deep in the list" "/?after=dom$((count * 9 / 10)).example"
measure "search, match near the start" "/?q=dom12345.example"
measure "search, match at the end" "/?q=dom$last.example"
measure "search, no match (one scan budget)" "/?q=no-such-name"
measure "search, many matches" "/?q=dom7"
measure "one domain" "/domains/dom$last.example"
