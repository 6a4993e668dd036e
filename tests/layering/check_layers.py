"""The layers of stsd and what each may include or link (issue 10), checked by ctest.

1. Includes. Every `#include` (and `__has_include`) in src/, plugins/ and tools/ is resolved
   the way the compiler resolves it: a quoted name first beside the including file, then
   along the include path of the file's compile command in compile_commands.json (for a
   header: the commands of the sources in its folder, else of its layer). A header found
   in a layer the including file may not use is a violation. The layers are the table
   LAYERS below; the lead edits it, not the code.
2. Links. stsctl links neither RocksDB nor ldns (neither in its link command nor among the
   NEEDED entries of the binary; the linker's --as-needed hides a library it could drop,
   so the command is the stronger check), and stsd_core's link interface carries neither:
   read from the link command of tests/layering/link_probe.cpp, which links only stsd_core.

Known violations are listed in known_violations.txt, each with the reason it is still
there. The check fails on a violation not in that list, and on a listed one that is gone,
so the list shrinks as the refactor lands and cannot rot.
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass

ANY = None  # may include every layer

# The layers, first match wins. "{name}" is one folder per plugin or tool, and a file may
# always include its own layer. Layer names in may_include may use "{name}" too.
@dataclass(frozen=True)
class Layer:
    name: str
    files: str
    may_include: tuple


LAYERS = [
    Layer("store", "src/store/**", ("core",)),
    Layer("http", "src/http/**", ("core",)),
    Layer("core", "src/**", ()),
    Layer("plugin list", "plugins/*", ("core",)),
    Layer("plugin {name} tests", "plugins/{name}/tests/**",
          ("plugin {name}", "core", "store", "http", "test support")),
    Layer("plugin {name}", "plugins/{name}/**", ("core", "store", "http")),
    Layer("tool {name} tests", "tools/{name}/tests/**",
          ("tool {name}", "core", "store", "http", "admin client", "test support")),
    Layer("tool {name}", "tools/{name}/**", ("core", "http", "admin client")),
    Layer("tests", "tests/**", ANY),
    Layer("bench", "bench/**", ANY),
]

# Headers a layer offers to layers that may not include the rest of it: a header in one
# of these belongs to its folder's layer and to the named one.
EXPORTS = {
    "admin client": ("plugins/admin/admin_config.h", "plugins/admin/client.h", "plugins/admin/client/**"),
    "test support": ("tests/support/**",),
}

SCANNED_TREES = ("src", "plugins", "tools")
SOURCE_SUFFIXES = (".h", ".hh", ".hpp", ".ipp", ".c", ".cc", ".cpp", ".cxx", ".in")

# Libraries that only the store layer (RocksDB) and the DNS parts (ldns) may link.
FORBIDDEN_LIBRARIES = {"RocksDB": "rocksdb", "ldns": "ldns"}

INCLUDE_LINE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')
HAS_INCLUDE = re.compile(r'__has_include\s*\(\s*([<"])([^">]+)[">]\s*\)')


def glob_regex(pattern):
    out = ""
    for part in re.split(r"(\{name\}|\*\*|\*)", pattern):
        if part == "{name}":
            out += r"(?P<name>[^/]+)"
        elif part == "**":
            out += ".*"
        elif part == "*":
            out += "[^/]*"
        else:
            out += re.escape(part)
    return re.compile(out + "$")


LAYER_PATTERNS = [(layer, glob_regex(layer.files)) for layer in LAYERS]
EXPORT_PATTERNS = [(name, [glob_regex(p) for p in patterns]) for name, patterns in EXPORTS.items()]


def layer_of(path):
    """(layer name with {name} filled in, the Layer) of a repository-relative path, or None."""
    for layer, regex in LAYER_PATTERNS:
        m = regex.match(path)
        if m:
            name = m.groupdict().get("name")
            return layer.name.replace("{name}", name or ""), layer, name
    return None


def layers_of_target(path):
    found = layer_of(path)
    names = {found[0]} if found else set()
    names |= {name for name, regexes in EXPORT_PATTERNS if any(r.match(path) for r in regexes)}
    return names


def allowed_layers(path):
    """None when the file may include anything, else the set of layer names it may include."""
    name, layer, folder = layer_of(path)
    if layer.may_include is ANY:
        return None
    return {name} | {n.replace("{name}", folder or "") for n in layer.may_include}


# --- include resolution ---------------------------------------------------------------

@dataclass(frozen=True)
class SearchPath:
    quote: tuple   # -iquote dirs (searched for "..." only)
    normal: tuple  # -I, -isystem, -idirafter in the compiler's order


def search_path_of(entry):
    args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    base = entry["directory"]
    groups = {"-iquote": [], "-I": [], "-isystem": [], "-idirafter": []}
    i = 0
    while i < len(args):
        arg = args[i]
        for flag in groups:
            if arg == flag and i + 1 < len(args):
                groups[flag].append(os.path.realpath(os.path.join(base, args[i + 1])))
                i += 1
                break
            if arg.startswith(flag) and len(arg) > len(flag):
                groups[flag].append(os.path.realpath(os.path.join(base, arg[len(flag):])))
                break
        i += 1
    return SearchPath(tuple(groups["-iquote"]), tuple(groups["-I"] + groups["-isystem"] + groups["-idirafter"]))


class Resolver:
    def __init__(self, source_dir, compile_commands):
        self.source_dir = source_dir
        self.by_file = {}
        for entry in compile_commands:
            path = os.path.realpath(os.path.join(entry["directory"], entry["file"]))
            self.by_file.setdefault(path, set()).add(search_path_of(entry))
        self.all_paths = set().union(*self.by_file.values()) if self.by_file else set()

    def contexts(self, path):
        """The include paths a file is compiled with: its own compile commands, else those
        of the sources in its folder, else of its layer, else every one."""
        if path in self.by_file:
            return self.by_file[path]
        folder = os.path.dirname(path)
        near = set()
        for other, paths in self.by_file.items():
            if os.path.dirname(other) == folder:
                near |= paths
        if near:
            return near
        own = layer_of(os.path.relpath(path, self.source_dir))
        for other, paths in self.by_file.items():
            other_layer = layer_of(os.path.relpath(other, self.source_dir))
            if own and other_layer and other_layer[0] == own[0]:
                near |= paths
        return near or self.all_paths

    @staticmethod
    def find(name, quoted, including_dir, search):
        dirs = ([including_dir] + list(search.quote) if quoted else []) + list(search.normal)
        for d in dirs:
            candidate = os.path.normpath(os.path.join(d, name))
            if os.path.isfile(candidate):
                return candidate
        return None

    def resolve(self, path, name, quoted):
        """Every file the directive can name, over the file's compile contexts."""
        found = {self.find(name, quoted, os.path.dirname(path), s) for s in self.contexts(path)}
        if found == {None}:
            # Not found with the file's own include path: any other target's path that
            # finds it in the tree is how it would build, so check that one.
            found = {self.find(name, quoted, os.path.dirname(path), s) for s in self.all_paths}
        return sorted(f for f in found if f)


# --- violations -------------------------------------------------------------------------

@dataclass(frozen=True)
class Violation:
    key: tuple       # (file, what it includes or links): what the allow-list names
    message: str


def source_files(source_dir):
    for tree in SCANNED_TREES:
        for root, dirs, files in os.walk(os.path.join(source_dir, tree)):
            dirs.sort()
            for f in sorted(files):
                if f.endswith(SOURCE_SUFFIXES):
                    yield os.path.join(root, f)


def include_directives(path):
    with open(path, errors="replace") as f:
        for number, line in enumerate(f, 1):
            m = INCLUDE_LINE.match(line)
            if m:
                yield number, m.group(2), m.group(1) == '"'
            elif line.lstrip().startswith("#"):
                for m in HAS_INCLUDE.finditer(line):
                    yield number, m.group(2), m.group(1) == '"'


def include_violations(source_dir, resolver):
    violations, unlayered = [], []
    for path in source_files(source_dir):
        rel = os.path.relpath(path, source_dir)
        if layer_of(rel) is None:
            unlayered.append(rel)
            continue
        allowed = allowed_layers(rel)
        if allowed is None:
            continue
        own = layer_of(rel)[0]
        for number, name, quoted in include_directives(path):
            for target in resolver.resolve(path, name, quoted):
                target_rel = os.path.relpath(target, source_dir)
                if target_rel.startswith(".."):
                    continue  # a system or generated header
                target_layers = layers_of_target(target_rel)
                if target_layers & allowed:
                    continue
                shown = " or ".join(sorted(target_layers)) or "none (a file outside every layer)"
                violations.append(Violation(
                    (rel, target_rel),
                    f"{rel}:{number}: includes {target_rel} (layer {own} may not include layer {shown})"))
    return violations, unlayered


def forbidden_in(library_names):
    """{library label: the entry that names it} for forbidden libraries among names."""
    hits = {}
    for entry in library_names:
        base = os.path.basename(entry)
        for label, lib in FORBIDDEN_LIBRARIES.items():
            if base == f"-l{lib}" or re.match(rf"lib{lib}([.\-_]|$)", base):
                hits.setdefault(label, entry)
    return hits


def link_command(ninja, build_dir, output):
    p = subprocess.run([ninja, "-C", build_dir, "-t", "commands", "-s", os.path.relpath(output, build_dir)],
                       capture_output=True, text=True)
    if p.returncode != 0 or not p.stdout.strip():
        raise RuntimeError(f"ninja knows no link command for {output}: {p.stderr.strip() or p.stdout.strip()}")
    return shlex.split(p.stdout.strip().splitlines()[-1])


def needed_entries(binary):
    p = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"readelf -d {binary} failed: {p.stderr.strip()}")
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", p.stdout)


# Binaries whose links are checked: (name, why it may link neither library).
LINK_RULES = {
    "stsctl": "stsctl talks to the admin API only, so it links neither",
    "stsd_core": "the core's link interface carries neither: RocksDB belongs to the store layer, "
                 "ldns to the parts that parse zones or resolve",
}


def link_violations(args):
    out, problems = [], []
    binaries = {"stsd_core": args.probe}
    if args.stsctl:
        binaries["stsctl"] = args.stsctl
    else:
        print("note: stsctl is not in this build (STSD_PLUGINS?); its links are not checked")
    for name, binary in binaries.items():
        try:
            sources = {"its link command": forbidden_in(link_command(args.ninja, args.build_dir, binary))}
            if name != "stsd_core":  # the probe is never built: its command is the answer
                if not os.path.isfile(binary):
                    raise RuntimeError(f"{binary} is not built (cmake --build ... --target {name})")
                sources["its NEEDED entries (readelf -d)"] = forbidden_in(needed_entries(binary))
        except (RuntimeError, OSError) as e:
            problems.append(f"cannot check what {name} links: {e}")
            continue
        labels = sorted(set().union(*[hits.keys() for hits in sources.values()]))
        for label in labels:
            where = "; ".join(f"{hits[label]} in {src}" for src, hits in sources.items() if label in hits)
            out.append(Violation((name, FORBIDDEN_LIBRARIES[label]),
                                 f"{name}: links {label} ({where}): {LINK_RULES[name]}"))
    return out, problems


# --- the allow-list ---------------------------------------------------------------------

def read_allow_list(path):
    """Lines `FILE  WHAT  -- reason`: FILE a repository path (or stsctl / stsd_core), WHAT
    the repository path it includes (or the library, rocksdb / ldns, it links)."""
    entries, errors = {}, []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            fields, _, reason = text.partition("--")
            parts = fields.split()
            if len(parts) != 2 or not reason.strip():
                errors.append(f"{path}:{number}: expected 'FILE WHAT -- reason', got: {text}")
                continue
            key = tuple(parts)
            if key in entries:
                errors.append(f"{path}:{number}: {' '.join(key)} is listed twice")
            entries[key] = number
    return entries, errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--ninja", required=True, help="the build's ninja (CMAKE_MAKE_PROGRAM)")
    parser.add_argument("--probe", required=True, help="path of the stsd_core link probe")
    parser.add_argument("--stsctl", default="", help="path of stsctl; empty when not in the build")
    parser.add_argument("--allow-list", required=True)
    args = parser.parse_args()
    source_dir = os.path.realpath(args.source_dir)

    commands_path = os.path.join(args.build_dir, "compile_commands.json")
    if not os.path.isfile(commands_path):
        print(f"FAIL: {commands_path} is missing (CMAKE_EXPORT_COMPILE_COMMANDS is set in CMakeLists.txt; "
              f"the Ninja and Makefile generators write it)")
        return 1
    if not os.path.basename(args.ninja).startswith("ninja"):
        print(f"FAIL: the link check reads link commands with `ninja -t commands`; this build uses {args.ninja}")
        return 1
    with open(commands_path) as f:
        resolver = Resolver(source_dir, json.load(f))

    includes, unlayered = include_violations(source_dir, resolver)
    links, problems = link_violations(args)
    allowed, errors = read_allow_list(args.allow_list)
    errors += problems
    errors += [f"{path}: in no layer of tests/layering/check_layers.py LAYERS" for path in unlayered]

    seen, unlisted = set(), 0
    for v in includes + links:
        seen.add(v.key)
        listed = v.key in allowed
        unlisted += not listed
        print(("known:     " if listed else "VIOLATION: ") + v.message)
    for key, number in sorted(allowed.items(), key=lambda kv: kv[1]):
        if key not in seen:
            errors.append(f"{args.allow_list}:{number}: {' '.join(key)} is no longer a violation: remove the line")

    print(f"{len(includes)} include and {len(links)} link violations; {len(allowed)} lines in the allow-list")
    if unlisted:
        errors.insert(0, f"{unlisted} violations (VIOLATION: above) are not in {args.allow_list}")
    if errors:
        print("FAIL:\n" + "\n".join(errors))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
