"""The README's first five minutes, end to end with the real binaries: the example
config (zones/stsd.yaml) with its development certificates; `stsctl domain add`,
`stsctl policy stage`; the confirmer fetches the staged policy from stsd's own HTTPS
policy host and confirms it with no manual step; kdig shows `v=STSv1; id=...;`; a day
later (the clock moved through STSD_CLOCK_OFFSET_FILE) the id is a new one."""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request

from harness import SOURCE_DIR, Stsd, check, free_port, kdig, run_tests

ID = re.compile(r'^"v=STSv1; id=([A-Za-z0-9]{1,32});"$')


def example_config(port, https_port, metrics_port):
    """zones/stsd.yaml with the loopback ports swapped for free ones."""
    with open(os.path.join(SOURCE_DIR, "zones", "stsd.yaml")) as f:
        text = f.read()
    check("127.0.0.1:9153" in text, "the example config serves metrics and the probes")
    text = text.replace("127.0.0.1:9153", f"127.0.0.1:{metrics_port}")
    text = text.replace("127.0.0.1:8443", f"127.0.0.1:{https_port}")
    text = text.replace("127.0.0.1:8054", f"127.0.0.1:{free_port()}")
    text = text.replace("127.0.0.1:5300", f"127.0.0.1:{port}").replace("[::1]:5300", f"[::1]:{port}")
    return text


def served_id(s):
    r = kdig(s, "_mta-sts.example.com", "TXT")
    check(r.rcode == "NOERROR" and "aa" in r.flags, r)
    txts = r.rdatas("TXT")
    if not txts:
        return None
    check(len(txts) == 1, r)
    m = ID.match(txts[0])
    check(m, txts[0])
    return m.group(1)


def test_first_five_minutes():
    work = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"stsd-five-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    # The repository layout the example config expects: zones/ beside var/.
    shutil.copytree(os.path.join(SOURCE_DIR, "zones"), os.path.join(work, "zones"))
    os.makedirs(os.path.join(work, "var"))
    subprocess.run([os.path.join(SOURCE_DIR, "scripts", "dev-certs.sh"), os.path.join(work, "var", "certs")],
                   check=True, capture_output=True)
    offset_file = os.path.join(work, "clock-offset")
    with open(offset_file, "w") as f:
        f.write("0")
    port, https_port, metrics_port = free_port(), free_port(), free_port()
    s = Stsd(example_config(port, https_port, metrics_port), workdir=os.path.join(work, "zones"), port=port,
             env={"STSD_CLOCK_OFFSET_FILE": offset_file, "STSD_SOCKET": os.path.join(work, "var", "stsd.sock")})
    with s:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/readyz", timeout=5) as r:
            check(r.status == 200 and r.read().decode().startswith("ready\n"), "/readyz of the example config")
        check(s.run("stsctl", "domain", "add", "example.com").returncode == 0)
        out = s.run("stsctl", "policy", "stage", "example.com", "--mode", "enforce", "--mx", "mail.example.com").stdout
        check("1" in out, out)
        # Staged but not confirmed: no record at all (NODATA), never an id for it.
        check(served_id(s) is None, "no id before confirmation")
        deadline = time.time() + 60
        status = {}
        while time.time() < deadline:
            status = json.loads(s.run("stsctl", "status", "example.com", "--json").stdout)
            if json.dumps(status).find('"confirmed"') >= 0 and served_id(s):
                break
            time.sleep(0.5)
        first = served_id(s)
        check(first, f"confirmed within 60 s: {status}")
        human = s.run("stsctl", "status", "example.com").stdout
        check("confirm" in human.lower(), human)
        # The same id all day; a day later a new one, with nothing typed.
        check(served_id(s) == first, "stable within the period")
        with open(offset_file, "w") as f:
            f.write(str(86400))
        time.sleep(0.5)
        deadline = time.time() + 10
        second = served_id(s)
        while second == first and time.time() < deadline:
            time.sleep(0.2)
            second = served_id(s)
        check(second and second != first, (first, second))
        # The policy file itself, over HTTPS from the policy host, as a sender fetches it.
        p = subprocess.run(["curl", "-sS", "--cacert", os.path.join(work, "var", "ca", "ca.pem"), "--resolve",
                            f"mta-sts.example.com:{https_port}:127.0.0.1",
                            f"https://mta-sts.example.com:{https_port}/.well-known/mta-sts.txt"],
                           capture_output=True, timeout=30)
        check(p.stdout.startswith(b"version: STSv1\r\n") and b"mx: mail.example.com\r\n" in p.stdout, p)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run_tests(None, [test_first_five_minutes])
