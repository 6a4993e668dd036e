#!/usr/bin/env python3
"""The Debian package, end to end, as an operator gets it (issue 16):

1. builds the .deb from the build folder with CPack (and a second, newer one for the
   upgrade) and runs lintian on it: no error may be reported;
2. makes a clean Debian 12 root with mmdebstrap (cached as a tarball under the build
   folder: the first run takes minutes, later ones unpack it in seconds);
3. runs the shell blocks of docs/operations.md marked `<!-- package-test: NAME -->`,
   exactly as written, inside that root: install the package with apt (its dependencies
   resolved from the Debian mirror), start stsd from the installed config as user stsd
   without systemd, add a domain with the installed stsctl and query it with kdig, then
   upgrade and see the store and a local edit of the conffile kept, then remove (the
   store stays) and purge (it goes);
4. checks the unit with `systemd-analyze verify` in the root, that the guide quotes the
   exposure `systemd-analyze security` computes, and that every system call stsd made
   (traced with strace from start to stop, reload included) is one the unit's
   SystemCallFilter allows (a forbidden one fails with EPERM under systemd).

The server runs in a network namespace of its own, so the packaged config's ports (53,
9153) never meet another test's. Needs root (chroot, namespaces) and the Debian mirror;
exits 77 (skipped) when not root. Each step's time is printed.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import time

import yaml

SOURCE_DIR = os.environ.get("STSD_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
BINARY_DIR = os.environ.get("STSD_BINARY_DIR", os.path.join(SOURCE_DIR, "build/release"))
WORK = os.path.join(BINARY_DIR, "package-test")
ROOT = os.path.join(WORK, "root")
BASE_TARBALL = os.path.join(WORK, "bookworm-base.tar")
GUIDE = os.path.join(SOURCE_DIR, "docs/operations.md")
MIRROR = "http://deb.debian.org/debian"
# What a clean server has besides the package: systemd (for systemd-analyze and the
# maintainer scripts' systemd path), man-db (the unit's Documentation= pages) and kdig.
BASE_PACKAGES = "systemd,man-db,knot-dnsutils"
UPGRADE_VERSION_SUFFIX = "+upgradetest1"

GUIDE_BLOCK = re.compile(r"<!-- package-test: ([\w-]+) -->\s*\n```sh\n(.*?)```", re.S)
STEP_TIMES = []


class Failure(Exception):
    pass


def step(name):
    def wrap(function):
        def timed(*args, **kwargs):
            started = time.monotonic()
            print(f"== {name}", flush=True)
            result = function(*args, **kwargs)
            STEP_TIMES.append((name, time.monotonic() - started))
            return result
        return timed
    return wrap


def run(command, check=True, **kwargs):
    result = subprocess.run(command, text=True, capture_output=True, **kwargs)
    if check and result.returncode != 0:
        raise Failure(f"{' '.join(command)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def guide_blocks():
    with open(GUIDE) as f:
        blocks = dict(GUIDE_BLOCK.findall(f.read()))
    for name in ("install", "start-without-systemd", "first-domain", "stop-without-systemd", "upgrade"):
        if name not in blocks:
            raise Failure(f"docs/operations.md: no ```sh block marked <!-- package-test: {name} -->")
    return blocks


# --- the package --------------------------------------------------------------------------

@step("build the .deb with CPack")
def build_deb(folder, version=None):
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    command = ["cpack", "-G", "DEB", "--config", os.path.join(BINARY_DIR, "CPackConfig.cmake"), "-B", folder]
    if version:
        command += ["-R", version]
    run(command)
    debs = glob.glob(os.path.join(folder, "stsd_*.deb"))
    if len(debs) != 1:
        raise Failure(f"cpack left {debs} in {folder}")
    return debs[0]


@step("lintian")
def lintian(deb):
    result = run(["lintian", "--fail-on", "error", "--display-info", deb], check=False)
    tags = [line for line in result.stdout.splitlines() if re.match(r"^[EWIPX]: ", line)]
    print("\n".join(tags) or "(no tags)")
    if result.returncode != 0 or any(t.startswith("E: ") for t in tags):
        raise Failure(f"lintian reports errors on {os.path.basename(deb)}:\n{result.stdout}{result.stderr}")


# --- the clean root -----------------------------------------------------------------------

@step("clean Debian 12 root (mmdebstrap, cached)")
def make_root():
    if not os.path.exists(BASE_TARBALL):
        partial = BASE_TARBALL + ".partial.tar"
        run(["mmdebstrap", "--variant=apt", f"--include={BASE_PACKAGES}", "--skip=cleanup/apt/lists",
             "bookworm", partial, MIRROR])
        os.rename(partial, BASE_TARBALL)
    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(ROOT)
    run(["tar", "-C", ROOT, "-xf", BASE_TARBALL])
    # The test's own mounts live in this process's private mount namespace (see main()).
    run(["mount", "-t", "proc", "proc", f"{ROOT}/proc"])
    run(["mount", "-t", "tmpfs", "tmpfs", f"{ROOT}/run"])
    run(["mount", "-t", "devpts", "-o", "newinstance,ptmxmode=0666", "devpts", f"{ROOT}/dev/pts"])
    archives = os.path.join(WORK, "apt-archives")
    os.makedirs(os.path.join(archives, "partial"), exist_ok=True)
    run(["mount", "--bind", archives, f"{ROOT}/var/cache/apt/archives"])
    shutil.copy("/etc/resolv.conf", f"{ROOT}/etc/resolv.conf")
    # The guide's commands are typed by a person who answers apt's question.
    with open(f"{ROOT}/etc/apt/apt.conf.d/90package-test", "w") as f:
        f.write('APT::Get::Assume-Yes "true";\n')


def in_root(script, cwd="/", network=None, check=True, quiet=False):
    """Runs a shell script as root inside the clean root (in the server's network
    namespace when `network` is its file)."""
    command = ["chroot", ROOT, "sh", "-ec", f"cd {cwd}\n{script}"]
    if network:
        command = ["nsenter", f"--net={network}"] + command
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
    result = run(command, check=False, env=env)
    if not quiet or result.returncode != 0:
        print(result.stdout + result.stderr, end="")
    if check and result.returncode != 0:
        raise Failure(f"exited {result.returncode}: {script}")
    return result


def copy_into_root(deb, folder):
    target = f"{ROOT}{folder}"
    os.makedirs(target, exist_ok=True)
    shutil.copy(deb, target)


# --- the guide's blocks -------------------------------------------------------------------

@step("install with apt (docs/operations.md: install)")
def install(blocks, deb):
    copy_into_root(deb, "/root/install")
    in_root(blocks["install"], cwd="/root/install")
    status = in_root("dpkg-query -W -f='${Status} ${Version}' stsd")
    expect("install ok installed" in status.stdout, f"stsd not installed: {status.stdout}")
    expect(in_root("id -u stsd", check=False).returncode == 0, "the postinst made no user stsd")
    # "Serves nothing harmful": every address the installed config listens on is loopback.
    with open(f"{ROOT}/etc/stsd/stsd.yaml") as f:
        config = yaml.safe_load(f)
    listens = [a for block in config["servers"] for a in block["listen"]] + [config["metrics"]["listen"]]
    outside = [a for a in listens if not re.match(r"^(127\.0\.0\.1|\[::1\]):\d+$", a)]
    expect(not outside and not config.get("policy_host"), f"/etc/stsd/stsd.yaml listens beyond loopback: {outside}")
    mode = os.stat(f"{ROOT}/var/lib/stsd")
    expect(mode.st_mode & 0o777 == 0o700, f"/var/lib/stsd has mode {oct(mode.st_mode & 0o777)}")


@step("the unit: systemd-analyze verify and security")
def check_unit():
    in_root("systemd-analyze verify /lib/systemd/system/stsd.service")
    security = in_root("systemd-analyze security --offline=true stsd.service", quiet=True)
    exposure = re.search(r"Overall exposure level for stsd.service: ([\d.]+)", security.stdout)
    expect(exposure, "no exposure level in systemd-analyze security's output")
    with open(GUIDE) as f:
        quoted = re.search(r"Overall exposure level for stsd.service: ([\d.]+)", f.read())
    expect(quoted and quoted.group(1) == exposure.group(1),
           f"docs/operations.md quotes exposure {quoted and quoted.group(1)}, systemd-analyze says "
           f"{exposure.group(1)}: update the quoted output")


class Server:
    """stsd started by the guide's block in its own network namespace, under strace."""

    def __init__(self, blocks, trace):
        self.blocks = blocks
        self.trace = trace
        self.network = os.path.join(WORK, "netns")

    def make_network(self):
        # Bound to a file inside this run's private mount namespace: it is gone with it.
        if not os.path.ismount(self.network):
            open(self.network, "w").close()
            run(["unshare", f"--net={self.network}", "true"])
            run(["nsenter", f"--net={self.network}", "ip", "link", "set", "lo", "up"])

    def start(self):
        self.make_network()
        # strace follows the block's shell into stsd and stays until stsd exits.
        self.tracer = subprocess.Popen(
            ["nsenter", f"--net={self.network}", "strace", "-f", "-qq", "-o", self.trace,
             "chroot", ROOT, "sh", "-ec", self.blocks["start-without-systemd"]],
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            text=True)
        deadline = time.monotonic() + 30
        last = None
        while time.monotonic() < deadline:
            ready = run(["nsenter", f"--net={self.network}", "chroot", ROOT, "kdig", "+retry=0", "+timeout=1",
                         "@127.0.0.1", "version.server", "CH", "TXT"], check=False)
            if ready.returncode == 0 and "status:" in ready.stdout and os.path.exists(f"{ROOT}/run/stsd/stsd.sock"):
                return
            last = ready
            if self.tracer.poll() is not None:  # strace ends when stsd has exited
                raise Failure(f"stsd exited at start\n{self.log()}")
            time.sleep(0.3)
        raise Failure(f"stsd did not answer within 30 s (kdig: {last.stdout}{last.stderr})\n{self.log()}")

    def pid(self):
        try:
            with open(f"{ROOT}/run/stsd/stsd.pid") as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def log(self):
        try:
            with open(f"{ROOT}/var/log/stsd.log") as f:
                return f.read()[-4000:]
        except OSError:
            return "(no log)"

    def stop(self):
        in_root(self.blocks["stop-without-systemd"], network=self.network)
        try:
            self.tracer.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.tracer.kill()
            raise Failure(f"stsd did not stop within 30 s of the guide's stop block\n{self.log()}")


def expect(condition, message):
    if not condition:
        raise Failure(message)


@step("start without systemd, first domain, kdig, reload (docs/operations.md)")
def first_domain(server):
    server.start()
    out = in_root(server.blocks["first-domain"], network=server.network).stdout
    expect("added example.com" in out, "stsctl domain add did not add example.com")
    expect(re.search(r"_mta-sts\.example\.com\.\s+\d+\s+IN\s+SOA\s+ns1\.", out), "kdig got no SOA of _mta-sts.example.com")
    # The root's own user stsd (the host may have another user with its uid), with the
    # capability to bind port 53 and no other.
    stsd_uid = in_root("id -u stsd", quiet=True).stdout.strip()
    with open(f"/proc/{server.pid()}/status") as f:
        status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
    expect(status["Uid"].split()[:2] == [stsd_uid, stsd_uid], f"stsd runs as uid {status['Uid']}, not stsd ({stsd_uid})")
    expect(int(status["CapEff"], 16) == 1 << 10, f"stsd's effective capabilities are {status['CapEff']}, "
           "not CAP_NET_BIND_SERVICE alone")
    # A reload takes the code paths of SIGHUP, which the system call check must see too.
    os.kill(server.pid(), 1)
    time.sleep(1)
    out = in_root("kdig @127.0.0.1 _mta-sts.example.com NS +tcp", network=server.network).stdout
    expect("ns2.provider.invalid." in out, "no NS answer over TCP after a reload")
    server.stop()


@step("system calls against the unit's SystemCallFilter")
def check_system_calls(trace):
    used = stsd_system_calls(trace)
    allowed, denied = set(), set()
    with open(f"{ROOT}/lib/systemd/system/stsd.service") as f:
        for line in f:
            if line.startswith("SystemCallFilter="):
                value = line.split("=", 1)[1].strip()
                target = denied if value.startswith("~") else allowed
                target.update(expand_filter(value.lstrip("~").split()))
    families = set()
    with open(f"{ROOT}/lib/systemd/system/stsd.service") as f:
        for line in f:
            if line.startswith("RestrictAddressFamilies="):
                families.update(line.split("=", 1)[1].split())
    opened = set(re.findall(r"\bsocket\((AF_\w+)", open(trace, errors="replace").read()))
    expect(opened <= families, f"stsd opened sockets of {sorted(opened - families)}, which RestrictAddressFamilies= forbids")
    forbidden = sorted(used - (allowed - denied))
    expect(not forbidden, f"stsd made system calls the unit forbids: {forbidden}")
    if io_uring_allowed_here():
        expect({"io_uring_setup", "io_uring_enter"} <= used,
               "stsd did not use io_uring: the filter's io_uring entries went untested")
    else:
        print("io_uring is disabled on this machine: the filter's io_uring entries are not exercised")
    print(f"{len(used)} distinct system calls, all allowed: {' '.join(sorted(used))}")


def io_uring_allowed_here():
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            return f.read().strip() == "0"
    except OSError:
        return True  # kernels before 6.6 have no such switch


def stsd_system_calls(trace):
    """The names of the system calls made by stsd (the process from its execve on, and
    every thread or child it made), from `strace -f` output."""
    with open(trace, errors="replace") as f:
        lines = f.read().splitlines()
    # The execve line may be split by another thread's line: "<unfinished ...>", then
    # "<... execve resumed>) = 0".
    start = next((i for i, line in enumerate(lines) if 'execve("/usr/sbin/stsd"' in line), None)
    expect(start is not None, "strace saw no execve of /usr/sbin/stsd")
    stsd_pid = lines[start].split()[0]
    exec_line = next((i for i in range(start, len(lines)) if lines[i].split()[0] == stsd_pid
                      and (i == start or "execve resumed" in lines[i])), None)
    expect(exec_line is not None and re.search(r"\) += 0$", lines[exec_line]),
           f"the execve of /usr/sbin/stsd failed: {lines[exec_line] if exec_line is not None else lines[start]}")
    pids = {stsd_pid}
    # Threads first: a child's lines may come before its parent's clone returns.
    changed = True
    while changed:
        changed = False
        for line in lines:
            fields = line.split(None, 1)
            m = re.search(r"\b(?:clone3?|fork|vfork)\b.*\) = (\d+)$", line)
            if fields and fields[0] in pids and m and m.group(1) not in pids:
                pids.add(m.group(1))
                changed = True
    used = set()
    for i, line in enumerate(lines):
        fields = line.split(None, 1)
        if not fields or fields[0] not in pids or (fields[0] == stsd_pid and i <= exec_line):
            continue
        m = re.match(r"^\d+\s+([a-z0-9_]+)\(", line)
        if m:
            used.add(m.group(1))
    return used


def expand_filter(items):
    names = set()
    for item in items:
        if not item.startswith("@"):
            names.add(item)
            continue
        listing = in_root(f"systemd-analyze syscall-filter {item}", quiet=True).stdout
        names.update(re.findall(r"^\s+([a-z0-9_]+)\s*$", listing, re.M))
        for group in re.findall(r"^\s+(@[a-z-]+)\s*$", listing, re.M):
            names.update(expand_filter([group]))
    return names


@step("upgrade (docs/operations.md): conffile edit and store kept")
def upgrade(server, new_deb):
    with open(f"{ROOT}/etc/stsd/stsd.yaml", "a") as f:
        f.write("# edited by the operator\n")
    copy_into_root(new_deb, "/root/upgrade")
    in_root(server.blocks["upgrade"], cwd="/root/upgrade")
    version = in_root("dpkg-query -W -f='${Version}' stsd").stdout
    expect(version.endswith(UPGRADE_VERSION_SUFFIX), f"after the upgrade stsd is {version}")
    with open(f"{ROOT}/etc/stsd/stsd.yaml") as f:
        expect("# edited by the operator" in f.read(), "the upgrade replaced the edited /etc/stsd/stsd.yaml")
    server.start()
    out = in_root("stsctl --config /etc/stsd/stsd.yaml domain list", network=server.network).stdout
    expect("example.com" in out, "the store lost example.com across the upgrade")
    server.stop()


@step("remove keeps the store, purge deletes it (docs/operations.md)")
def remove_and_purge():
    in_root("apt-get remove stsd")
    expect(os.path.exists(f"{ROOT}/var/lib/stsd/stsd.db") and os.path.exists(f"{ROOT}/etc/stsd/stsd.yaml"),
           "apt-get remove deleted the store or the config")
    in_root("apt-get purge stsd")
    expect(not os.path.exists(f"{ROOT}/var/lib/stsd") and not os.path.exists(f"{ROOT}/etc/stsd/stsd.yaml"),
           "apt-get purge left the store or the config")
    expect(in_root("id -u stsd", check=False, quiet=True).returncode == 0, "purge removed the user stsd")


def main():
    if os.geteuid() != 0:
        print("package test: needs root (chroot, mount and network namespaces); skipped")
        return 77
    if os.environ.get("STSD_PACKAGE_TEST_NAMESPACE") != "1":
        # Every mount (and the server's network namespace file) is private to this run
        # and goes away with it, whatever happens.
        env = dict(os.environ, STSD_PACKAGE_TEST_NAMESPACE="1")
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "--fork",
                               sys.executable, os.path.abspath(__file__)], env=env).returncode
    started = time.monotonic()
    os.makedirs(WORK, exist_ok=True)
    try:
        blocks = guide_blocks()
        deb = build_deb(os.path.join(WORK, "deb"))
        lintian(deb)
        new_deb = build_deb(os.path.join(WORK, "deb-upgrade"), f"{read_version()}{UPGRADE_VERSION_SUFFIX}")
        make_root()
        install(blocks, deb)
        check_unit()
        trace = os.path.join(WORK, "stsd.strace")
        server = Server(blocks, trace)
        first_domain(server)
        check_system_calls(trace)
        upgrade(server, new_deb)
        remove_and_purge()
    except Failure as failure:
        print(f"FAILED: {failure}")
        return 1
    finally:
        for name, seconds in STEP_TIMES:
            print(f"  {seconds:6.1f} s  {name}")
        print(f"  {time.monotonic() - started:6.1f} s  in all")
    print("package test: passed")
    return 0


def read_version():
    with open(os.path.join(BINARY_DIR, "CPackConfig.cmake")) as f:
        return re.search(r'set\(CPACK_PACKAGE_VERSION "([^"]+)"\)', f.read()).group(1)


if __name__ == "__main__":
    sys.exit(main())
