"""Certificates for the confirm-scheduler benchmark: a bench CA and one certificate per
domain, for `mta-sts.<domain>`, as a provider with a certificate per customer domain has
them. The confirmer verifies each one fully (chain to `confirm.ca_file`, the name, the
dates); nothing about its checks is relaxed.

All leaves share one ECDSA P-256 key (signing 100,000 certificates is then ~15 s of
Python instead of 100,000 key generations); the handshake costs the same as with a key
per domain. The material is cached in `directory` and reused while it covers the same
domains and stays valid for at least `MIN_DAYS_LEFT` more days.

Needs python3-cryptography (Debian's package).
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import time
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 397        # the longest validity browsers accept for a leaf
MIN_DAYS_LEFT = 30
STAMP = "bench-certs.json"
FORMAT = 1              # bump when the layout below changes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cached(directory: str, count: int, domain: Callable[[int], str]) -> bool:
    try:
        with open(os.path.join(directory, STAMP)) as f:
            stamp = json.load(f)
    except (OSError, ValueError):
        return False
    not_after = datetime.datetime.fromisoformat(stamp.get("not_after", "1970-01-01T00:00:00+00:00"))
    left = not_after - datetime.datetime.now(datetime.timezone.utc)
    return (stamp.get("format") == FORMAT and stamp.get("count") == count
            and stamp.get("last_domain") == domain(count - 1) and left.days >= MIN_DAYS_LEFT
            and os.path.exists(os.path.join(directory, "ca.pem"))
            and os.path.exists(os.path.join(directory, "certs", f"{domain(count - 1)}.pem")))


def ensure(directory: str, count: int, domain: Callable[[int], str],
           progress: Callable[[str], None] = lambda _: None) -> dict:
    """Makes (or reuses) `directory`/ca.pem and `directory`/certs/<domain>.pem (leaf and
    key) for domain(0..count-1). Returns {"ca": path, "cert_dir": path, "generated_s":
    seconds or None when reused}."""
    paths = {"ca": os.path.join(directory, "ca.pem"), "cert_dir": os.path.join(directory, "certs")}
    if _cached(directory, count, domain):
        return {**paths, "generated_s": None}
    progress(f"generating a bench CA and {count:,} certificates in {directory}")
    started = time.monotonic()
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(paths["cert_dir"])
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    not_before = now - datetime.timedelta(days=1)
    not_after = now + datetime.timedelta(days=VALID_DAYS)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("stsd confirm-bench CA (loopback only)")
    ca_id = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(not_before).not_valid_after(not_after + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(ca_id, critical=False)
          .sign(ca_key, hashes.SHA256()))
    with open(paths["ca"], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key_pem = _pem_key(leaf_key)
    leaf_public = leaf_key.public_key()
    authority = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_id)
    server_auth = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    for i in range(count):
        host = f"mta-sts.{domain(i)}"
        leaf = (x509.CertificateBuilder().subject_name(_name(host)).issuer_name(ca_name)
                .public_key(leaf_public).serial_number(i + 1)
                .not_valid_before(not_before).not_valid_after(not_after)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
                .add_extension(server_auth, critical=False)
                .add_extension(authority, critical=False)
                .sign(ca_key, hashes.SHA256()))
        # NAME.pem holding the leaf and its key: the policy host's one-file form.
        with open(os.path.join(paths["cert_dir"], f"{domain(i)}.pem"), "wb") as f:
            f.write(leaf.public_bytes(serialization.Encoding.PEM) + leaf_key_pem)
        if (i + 1) % 20000 == 0:
            progress(f"  {i + 1:,} certificates")
    with open(os.path.join(directory, STAMP), "w") as f:
        json.dump({"format": FORMAT, "count": count, "last_domain": domain(count - 1),
                   "not_after": not_after.isoformat()}, f)
    return {**paths, "generated_s": time.monotonic() - started}
