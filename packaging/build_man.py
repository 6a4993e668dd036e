#!/usr/bin/env python3
"""Writes one man page (gzipped) from its markdown source under docs/man/.

    build_man.py --source REPO --page stsd.yaml.5 --version 0.1.0 --pandoc pandoc --output OUT.gz

docs/man/<page>.md is ordinary markdown that the docs link. A line

    <!-- include: PATH[#SECTION] level=N -->

(PATH relative to that file) is replaced by the file's text, or by the body of its
heading SECTION (matched case-insensitively), with the included headings shifted so that
the first level below the included part becomes level N (1: .SH, 2: .SS). So a man page
and the doc it shows are one text: stsd.yaml(5) is docs/configuration.md, stsctl(8) is
plugins/admin/README.md's stsctl section. Errors name the page and the include.
"""
import argparse
import gzip
import os
import re
import subprocess
import sys

INCLUDE = re.compile(r"^<!--\s*include:\s*(\S+?)(?:#(\S+))?\s+level=(\d)\s*-->\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


def headings(lines):
    """(index, level, text) of each markdown heading outside fenced code blocks."""
    in_fence = False
    for i, line in enumerate(lines):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        m = None if in_fence else HEADING.match(line)
        if m:
            yield i, len(m.group(1)), m.group(2)


def section(lines, name, where):
    """The body of the heading `name` (without the heading) and its level; the whole file
    (less a leading level-1 title) and level 1 when name is None."""
    found = list(headings(lines))
    if name is None:
        if found and found[0][1] == 1:
            start = found[0][0]
            return lines[:start] + lines[start + 1:], 1
        return lines, 0
    for n, (i, level, text) in enumerate(found):
        if text.lower() == name.lower():
            end = next((j for j, lv, _ in found[n + 1:] if lv <= level), len(lines))
            return lines[i + 1:end], level
    raise SystemExit(f"build_man: {where}: no heading '{name}'")


def shift(lines, by):
    out, in_fence = [], False
    for line in lines:
        if FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else HEADING.match(line)
        if m:
            level = max(1, len(m.group(1)) + by)
            line = "#" * level + " " + m.group(2)
        out.append(line)
    return out


def expand(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    for number, line in enumerate(lines, 1):
        m = INCLUDE.match(line)
        if not m:
            out.append(line)
            continue
        where = f"{path}:{number}"
        target = os.path.normpath(os.path.join(os.path.dirname(path), m.group(1)))
        if not os.path.isfile(target):
            raise SystemExit(f"build_man: {where}: included file {target} does not exist")
        body, level = section(open(target, encoding="utf-8").read().split("\n"), m.group(2), where)
        # The included part's children (level + 1) land on the requested level.
        out.extend(shift(body, int(m.group(3)) - (level + 1)))
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--source", required=True)
    p.add_argument("--page", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--pandoc", default="pandoc")
    p.add_argument("--output", required=True)
    a = p.parse_args()
    name, number = a.page.rsplit(".", 1)
    source = os.path.join(a.source, "docs", "man", a.page + ".md")
    text = expand(source)
    here = os.path.dirname(os.path.abspath(__file__))
    man = subprocess.run(
        [a.pandoc, "--from", "markdown-smart", "--to", "man", "--standalone",
         "--lua-filter", os.path.join(here, "man_links.lua"),
         "--metadata", f"title={name.upper()}", "--metadata", f"section={number}",
         "--metadata", f"footer=stsd {a.version}", "--metadata", "header=stsd manual",
         "--metadata", "date="],
        input=text, capture_output=True, text=True)
    if man.returncode != 0:
        sys.exit(f"build_man: pandoc failed on {source}: {man.stderr.strip()}")
    os.makedirs(os.path.dirname(a.output), exist_ok=True)
    # mtime=0 and no file name in the header: the same docs give the same bytes.
    with open(a.output, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(man.stdout.encode("utf-8"))


if __name__ == "__main__":
    main()
