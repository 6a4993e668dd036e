#!/usr/bin/env python3
"""The packaged man pages, as built (build/release/packaging/man/*.gz), against the
programs and docs they come from:
- each renders with man(1) without an error;
- stsd(8) names every option of `stsd --help`, stsctl(8) every command of
  `stsctl --help`: a new option or command without documentation fails here;
- stsd.yaml(5) holds every section of docs/configuration.md, stsctl(8) every subsection
  of plugins/admin/README.md's stsctl section (the include of docs/man/*.md worked).
"""
import gzip
import os
import re
import subprocess
import sys

SOURCE_DIR = os.environ["STSD_SOURCE_DIR"]
BINARY_DIR = os.environ["STSD_BINARY_DIR"]
MAN_DIR = os.path.join(BINARY_DIR, "packaging", "man")
FAILURES = []


def check(condition, message):
    if not condition:
        FAILURES.append(message)


def troff_text(page):
    """The page's words with troff's font and character escapes taken out."""
    with gzip.open(os.path.join(MAN_DIR, page + ".gz"), "rt", encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"\\f(\[[A-Z]*\]|[A-Z])", "", text)
    text = text.replace("\\-", "-").replace("\\[aq]", "'").replace("\\[lq]", '"').replace("\\[rq]", '"')
    text = re.sub(r"^\.\S*\s?", "", text, flags=re.M)          # requests (.PP, .TP, .SH ...)
    text = re.sub(r"^T[{}]\s*$", "", text, flags=re.M)          # tbl text blocks
    return " ".join(text.split())


def renders(page):
    result = subprocess.run(["man", "-l", "-P", "cat", os.path.join(MAN_DIR, page + ".gz")],
                            capture_output=True, text=True, env=dict(os.environ, MANWIDTH="80", LANG="C.UTF-8"))
    check(result.returncode == 0 and len(result.stdout) > 500,
          f"{page}: man -l exited {result.returncode}: {result.stderr.strip()[:300]}")


def help_text(program):
    return subprocess.run([os.path.join(BINARY_DIR, "bin", program), "--help"],
                          capture_output=True, text=True).stdout


def markdown_headings(path, below=None):
    with open(path) as f:
        text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
    headings = re.findall(r"^(#+)\s+(.*)$", text, re.M)
    if below is None:
        return [t for level, t in headings if len(level) == 2]
    level_of = next(len(l) for l, t in headings if t == below)
    index = [t for _, t in headings].index(below)
    children = []
    for level, t in headings[index + 1:]:
        if len(level) <= level_of:
            break
        children.append(t)
    return children


def main():
    for page in ("stsd.8", "stsctl.8", "stsd.yaml.5"):
        renders(page)

    stsd_page = troff_text("stsd.8")
    for option in set(re.findall(r"(--[a-z-]+)", help_text("stsd"))):
        check(option in stsd_page, f"stsd.8: option {option} of `stsd --help` is not documented (docs/man/stsd.8.md)")

    stsctl_page = troff_text("stsctl.8")
    # "  domain add DOMAIN    add a domain...": the words and the first argument, which
    # the page must show together ("domain add DOMAIN").
    listing = help_text("stsctl").split("Commands:")[1].split("Global options:")[0]
    commands = re.findall(r"^  ([a-z]+(?: [a-z]+)?(?: [A-Z][A-Za-z.]*)?)(?:  |$)", listing, re.M)
    check(len(commands) >= 10, f"stsctl --help: found only {commands}")
    for command in commands:
        check(command in stsctl_page, f"stsctl.8: command `{command}` of `stsctl --help` is not documented "
              "(plugins/admin/README.md's stsctl section, or docs/man/stsctl.8.md)")
    for option in set(re.findall(r"^  (--[a-z-]+)", help_text("stsctl"), re.M)):
        check(option in stsctl_page, f"stsctl.8: global option {option} is not documented")
    for heading in markdown_headings(os.path.join(SOURCE_DIR, "plugins/admin/README.md"), below="stsctl"):
        check(heading.upper() in stsctl_page or heading in stsctl_page, f"stsctl.8: section '{heading}' missing")

    yaml_page = troff_text("stsd.yaml.5")
    for heading in markdown_headings(os.path.join(SOURCE_DIR, "docs/configuration.md")):
        check(heading in yaml_page or heading.upper() in yaml_page,
              f"stsd.yaml.5: section '{heading}' of docs/configuration.md missing")

    for failure in FAILURES:
        print(f"FAILED: {failure}")
    print(f"man pages: {'failed' if FAILURES else 'passed'}")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
