#!/usr/bin/env bash
# Installs the Debian 12 packages stsd needs that are not yet present.
# Idempotent and quiet when everything is already installed.
#   scripts/deps.sh            build + test dependencies
#   scripts/deps.sh --bench    also the benchmark peers (knot, nsd, dnsperf)
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libldns-dev libboost-dev librocksdb-dev libyaml-cpp-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev liburing-dev
  knot-dnsutils dnsutils ldnsutils knot bind9 bind9-utils nginx openssl curl python3 python3-dnspython iproute2
  zonemaster-cli
  clang libclang-rt-14-dev
  libgmime-3.0-dev
  zlib1g-dev
  pandoc lintian mmdebstrap strace dpkg-dev
  chromium chromium-driver python3-selenium fonts-dejavu-core
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(nsd dnsperf valgrind procps)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo_cmd=()
[[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
# Debian's knot, bind9, nsd and nginx packages start their daemons on install; keep them
# from grabbing ports 53/80 on a developer's machine (the tests start their own on free ports).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee $policy >/dev/null
  "${sudo_cmd[@]}" chmod +x $policy
  created_policy=1
fi
trap '[[ $created_policy == 1 ]] && "${sudo_cmd[@]}" rm -f $policy' EXIT
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
