"""Every complete example config in the documentation is valid: each ```yaml block
with a top-level `servers:` key in README.md, docs/ and the plugin READMEs must pass
`stsd --check-config` from a folder holding a copy of zones/ (CoreDNS's readme_test)."""
import glob
import os
import re
import shutil
import subprocess
import tempfile

from harness import STSD_BIN, SOURCE_DIR, check, run_tests

BLOCK = re.compile(r"```ya?ml\n(.*?)```", re.S)


def documents():
    patterns = ["README.md", "docs/*.md", "plugins/*/README.md", "plugins/*/*/README.md", "bench/README.md"]
    for pattern in patterns:
        yield from sorted(glob.glob(os.path.join(SOURCE_DIR, pattern)))


def examples():
    for path in documents():
        with open(path) as f:
            text = f.read()
        for match in BLOCK.finditer(text):
            block = match.group(1)
            if re.search(r"^servers:", block, re.M):
                line = text[:match.start()].count("\n") + 2
                yield os.path.relpath(path, SOURCE_DIR), line, block


def test_every_example_config_is_valid():
    found = 0
    failures = []
    for path, line, block in examples():
        found += 1
        work = tempfile.mkdtemp(prefix="stsd-doc-")
        try:
            shutil.copytree(os.path.join(SOURCE_DIR, "zones"), os.path.join(work, "zones"))
            config = os.path.join(work, "stsd.yaml")
            with open(config, "w") as f:
                f.write(block)
            p = subprocess.run([os.path.join(STSD_BIN, "stsd"), "--check-config", config], capture_output=True,
                               text=True, timeout=30, cwd=work)
            if p.returncode != 0:
                failures.append(f"{path}:{line}: {p.stderr.strip()}")
        finally:
            shutil.rmtree(work)
    print(f"checked {found} example configs")
    check(found >= 3, f"only {found} example configs found")
    check(not failures, "\n".join(failures))


if __name__ == "__main__":
    run_tests(None, [test_every_example_config_is_valid])
