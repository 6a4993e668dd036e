#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (address + undefined sanitizers) and runs each
# for a bounded time: tests/fuzz/run.sh [SECONDS] (default 60, per target).
set -euo pipefail
seconds=${1:-60}
here="$(cd "$(dirname "$0")" && pwd)"
top="$here/../.."
out="$top/build/fuzz"
mkdir -p "$out/corpus"
command -v clang++ >/dev/null || { echo "fuzz: clang++ is missing (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$top/src")
# The query path: decoder and writer.
clang++ "${flags[@]}" -DSTSD_VERSION='"fuzz"' \
  "$here/fuzz_query.cpp" "$top"/src/dns/{types,name,message,writer,rdata}.cpp "$top/src/plugin.cpp" \
  -o "$out/fuzz_query"
# The MTA-STS policy parser and renderer (policies come from untrusted policy hosts).
clang++ "${flags[@]}" \
  "$here/fuzz_policy.cpp" "$top"/src/store/{policy,names}.cpp "$top/src/net/address.cpp" -lcrypto \
  -o "$out/fuzz_policy"
# The admin API over a real store (RocksDB in /dev/shm): every source of the store layer
# and the API's request handling (api*.cpp), without the transport and the service.
clang++ "${flags[@]}" -DSTSD_VERSION='"fuzz"' -I"$top/plugins/admin" \
  "$here/fuzz_admin.cpp" "$top"/src/store/*.cpp "$top"/plugins/admin/api*.cpp \
  "$top"/src/{environment,logging,utc_time}.cpp "$top/src/net/address.cpp" -lrocksdb -lcrypto \
  -o "$out/fuzz_admin"
mkdir -p "$out/corpus-policy" "$out/corpus-admin"
cp "$here"/seeds/policy-* "$out/corpus-policy/"
cp "$here"/seeds/admin-* "$out/corpus-admin/"
"$out/fuzz_query" -max_total_time="$seconds" -max_len=1024 "$out/corpus" 2>&1 | tail -3
"$out/fuzz_policy" -max_total_time="$seconds" -max_len=2048 -dict="$here/policy.dict" "$out/corpus-policy" 2>&1 | tail -3
"$out/fuzz_admin" -max_total_time="$seconds" -max_len=4096 -dict="$here/admin.dict" "$out/corpus-admin" 2>&1 | tail -3
