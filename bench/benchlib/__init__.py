"""The parts of the stsd benchmark harness (bench/harness.py), one purpose per module:

  processes  start, stop and reap processes by PID; CPU and memory from /proc
  machine    the log line, load average, CPU model, commit, results files
  servers    Knot, NSD and stsd: config, start-up timed to the first answer, memory
  dnsperf    one dnsperf run and its figures (QPS, CPU seconds, latency histogram)
  checks     answers checked under load, and every server asked the same questions
  data       data sets: the import CSV, the peers' zone, the query files
  importing  `stsctl import --confirm-now` timed, with CPU seconds and peak memory
  loading    a data set loaded into stsd (import, restart, ids read back) and the peers
  cases      the rounds of every case, the change run, the callgrind figures
  targets    issue 6 and issue 15 targets, and the comparison with an earlier results file
  report     the Markdown results file

bench/xfr, bench/protections and bench/confirm use these through bench/harness.py.
"""
