#!/usr/bin/env bash
# Makes a local development CA and a certificate for mta-sts.<domain> for each domain
# given (default: example.com), for the policy host on loopback. Never use these keys
# outside a test machine.
#   scripts/dev-certs.sh CERT_DIR [DOMAIN...]
# The CA lands beside CERT_DIR in ca/ (ca.pem is what the confirmer trusts).
set -euo pipefail
cert_dir=${1:?usage: dev-certs.sh CERT_DIR [DOMAIN...]}
shift
domains=("$@")
[[ ${#domains[@]} -eq 0 ]] && domains=(example.com)
ca_dir="$(dirname "$cert_dir")/ca"
mkdir -p "$cert_dir" "$ca_dir"
if [[ ! -f $ca_dir/ca.pem ]]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=stsd development CA" \
    -keyout "$ca_dir/ca.key" -out "$ca_dir/ca.pem" 2>/dev/null
  chmod 600 "$ca_dir/ca.key"
fi
for domain in "${domains[@]}"; do
  host="mta-sts.$domain"
  [[ -f $cert_dir/$host.crt ]] && continue
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$host" -keyout "$cert_dir/$host.key" \
    -out "$cert_dir/$host.csr" 2>/dev/null
  openssl x509 -req -in "$cert_dir/$host.csr" -CA "$ca_dir/ca.pem" -CAkey "$ca_dir/ca.key" -CAcreateserial \
    -days 825 -extfile <(printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$host") \
    -out "$cert_dir/$host.crt" 2>/dev/null
  rm -f "$cert_dir/$host.csr"
  chmod 600 "$cert_dir/$host.key"
  echo "$cert_dir/$host.crt"
done
