#!/bin/bash
# Times `stsctl import CSV --confirm-now` into a fresh store of a fresh stsd (the bench's
# stsd config, loopback only) and prints wall time, stsd CPU by thread (the importing
# threads and RocksDB's compactions apart), its minor faults and peak RSS, and stsctl's
# CPU and peak RSS. Usage: bench/import_alone.sh BUILD_DIR CSV. Used for
# bench/results/2026-11-30-issue15-import-10m.md (the harness takes ~20 min more at 10M).

set -e
B=$1; CSV=$2; shift 2
W=$(mktemp -d /tmp/imp.XXXX)
cat > $W/stsd.yaml <<Y
storage: $W/stsd.db
workers: 2
log_level: warning
admin: { socket: $W/stsd.sock }
servers:
  - listen: ["127.0.0.1:5399"]
    plugins:
      mtasts:
        nameservers: [ns1.provider.test.]
        hostmaster: hostmaster.provider.test.
        ttl: 300
Y
$B/bin/stsd --config $W/stsd.yaml > $W/server.log 2>&1 &
PID=$!
for i in $(seq 100); do [ -S $W/stsd.sock ] && break; sleep 0.1; done
sleep 0.3
c0=$(awk '{print $14+$15}' /proc/$PID/stat); f0=$(awk '{print $10}' /proc/$PID/stat)
t0=$(date +%s.%N)
/usr/bin/time -f "stsctl %e s wall, %U+%S cpu, %M KiB" $B/bin/stsctl --socket $W/stsd.sock import $CSV ${IMPARGS:---confirm-now --reason bench} "$@" 2>&1 | python3 -c "import sys,time; t=time.monotonic(); [print(f\"{time.monotonic()-t:7.2f} {l.rstrip()}\") for l in sys.stdin]" > $W/import.log || { tail $W/import.log; }
t1=$(date +%s.%N)
c1=$(awk '{print $14+$15}' /proc/$PID/stat); f1=$(awk '{print $10}' /proc/$PID/stat); echo "minor faults $((f1-f0)); $(grep -E 'VmRSS|VmHWM' /proc/$PID/status | tr -s ' \n' ' ')"
grep -E "checking|importing" $W/import.log | sed -n "1p;\$p"; grep -m1 -n importing $W/import.log; tail -2 $W/import.log
echo "WALL $(echo "$t1 - $t0" | bc) s; stsd CPU $(echo "($c1 - $c0)/100" | bc -l | cut -c1-6) s; load $(cut -d' ' -f1-3 /proc/loadavg)"
for t in /proc/$PID/task/*; do echo "$(cat $t/comm) $(awk '{print ($14+$15)/100}' $t/stat)"; done | awk '{c[$1]+=$2} END {for (k in c) printf "%s=%.1f ", k, c[k]; print ""}'
for t in /proc/$PID/task/*; do echo "$(cat $t/comm)/$(basename $t) $(awk '{print ($14+$15)/100}' $t/stat)"; done | sort -k2 -n -r | head -4 | tr "\n" " "; echo
[ -n "$KEEP" ] && cp -r $W/stsd.db $KEEP; [ -n "$SERVERLOG" ] && cp $W/server.log $SERVERLOG; kill $PID; wait $PID 2>/dev/null || true
rm -rf $W
