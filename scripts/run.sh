#!/usr/bin/env bash
# First command of the README: install what is missing, build, and run stsd on the
# example config (zones/stsd.yaml: loopback port 5300, RocksDB in var/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh release
mkdir -p var
scripts/dev-certs.sh var/certs >/dev/null
export PATH="$PWD/build/release/bin:$PATH"
cat <<MSG
stsd is starting on 127.0.0.1:5300 and [::1]:5300 (Ctrl-C stops it). In another shell:
  kdig @127.0.0.1 -p 5300 www.example.org A
  export PATH="$PWD/build/release/bin:\$PATH" STSD_SOCKET="$PWD/var/stsd.sock"
  stsctl domain add example.com
  stsctl policy stage example.com --mode enforce --mx mail.example.com
  stsctl status example.com
  kdig @127.0.0.1 -p 5300 _mta-sts.example.com TXT
MSG
exec build/release/bin/stsd --config zones/stsd.yaml
