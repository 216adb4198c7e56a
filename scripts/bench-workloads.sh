#!/usr/bin/env bash
# Whole-program workloads, directly and under capfd run (and bubblewrap
# when installed), in alternating rounds; prints each runner's median
# wall time as a ratio to the direct run's, measured in the same run.
#
#   scripts/bench-workloads.sh [ROUNDS]        (default 5)
#
# The trees are built here, in a temporary directory, so the numbers do
# not depend on the host's /usr. Each workload gets its work directory
# granted rw and nothing else beyond capfd's default profile (python and
# make need theirs: --profile python, --profile dev). Times are wall
# clock of the whole command, start-up included.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
rounds=${1:-5}

tmp=$(mktemp -d /tmp/capfd-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
capfd=$tmp/capfd
go build -o "$capfd" ./cmd/capfd

# --- the trees ---------------------------------------------------------
w=$tmp/w
mkdir -p "$w"
python3 - "$w" <<'EOF'
import os, sys, random
w = sys.argv[1]
random.seed(1)
words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
# find, grep: 20,000 files in 400 directories, a few KiB each.
for d in range(400):
    dd = os.path.join(w, "tree", "d%03d" % (d // 20), "e%03d" % d)
    os.makedirs(dd, exist_ok=True)
    for f in range(50):
        with open(os.path.join(dd, "f%02d.txt" % f), "w") as fh:
            fh.write(" ".join(random.choice(words) for _ in range(300)) + "\n")
# make: 25 C files.
# find walks a tree the size of the issue's /usr: 120,000 empty files in
# 2,400 directories (emptiness keeps the setup quick; find reads no data).
for d in range(2400):
    dd = os.path.join(w, "big", "d%02d" % (d // 100), "e%04d" % d)
    os.makedirs(dd, exist_ok=True)
    for f in range(50):
        open(os.path.join(dd, "f%02d" % f), "w").close()
src = os.path.join(w, "c")
os.makedirs(src, exist_ok=True)
objs = []
for i in range(25):
    with open(os.path.join(src, "m%02d.c" % i), "w") as fh:
        fh.write('#include <stdio.h>\n#include <string.h>\nint f%d(const char *s) { return (int)strlen(s) + %d; }\n' % (i, i))
    objs.append("m%02d.o" % i)
with open(os.path.join(src, "main.c"), "w") as fh:
    fh.write("int main(void) { return 0; }\n")
with open(os.path.join(src, "Makefile"), "w") as fh:
    fh.write("OBJS = main.o " + " ".join(objs) + "\nprog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\nclean:\n\trm -f prog *.o\n")
# python: 120 stdlib imports.
mods = ["abc", "argparse", "ast", "asyncio", "base64", "bisect", "bz2", "calendar", "cmath", "codecs",
        "collections", "colorsys", "configparser", "contextlib", "copy", "csv", "ctypes", "dataclasses",
        "datetime", "decimal", "difflib", "dis", "email", "enum", "filecmp", "fnmatch", "fractions",
        "functools", "getopt", "gettext", "glob", "gzip", "hashlib", "heapq", "hmac", "html", "http",
        "imaplib", "inspect", "io", "ipaddress", "itertools", "json", "keyword", "linecache", "locale",
        "logging", "lzma", "mailbox", "math", "mimetypes", "numbers", "operator", "optparse", "os",
        "pathlib", "pickle", "pkgutil", "platform", "plistlib", "pprint", "queue", "quopri", "random",
        "re", "reprlib", "sched", "secrets", "selectors", "shelve", "shlex", "shutil", "signal",
        "smtplib", "socket", "sqlite3", "ssl", "stat", "statistics", "string", "stringprep", "struct",
        "subprocess", "symtable", "sysconfig", "tarfile", "tempfile", "textwrap", "threading", "timeit",
        "token", "tokenize", "tomllib", "trace", "traceback", "types", "typing", "unicodedata",
        "unittest", "urllib", "uuid", "warnings", "wave", "weakref", "webbrowser", "xml", "zipfile",
        "zipimport", "zlib", "zoneinfo", "array", "atexit", "binascii", "cProfile", "code", "codeop",
        "compileall", "concurrent", "contextvars", "graphlib"]
with open(os.path.join(w, "imports.py"), "w") as fh:
    for m in mods[:120]:
        fh.write("try:\n    import %s\nexcept ImportError:\n    pass\n" % m)
EOF
# git status: a 5,000-file repository (from the tree's first 100 dirs).
mkdir -p "$w/repo"
cp -r "$w/tree/d000" "$w/tree/d001" "$w/tree/d002" "$w/tree/d003" "$w/tree/d004" "$w/repo/"
git -C "$w/repo" init -q && git -C "$w/repo" add -A &&
	git -C "$w/repo" -c user.name=b -c user.email=b@b commit -qm init
# tar xf: 3,000 files.
tar -C "$w/tree" -cf "$w/x.tar" d000 d001 d002
mkdir -p "$w/out"

# --- the workloads -----------------------------------------------------
# Debian's interpreter: python3 on PATH may be a pyenv shim in the caller's
# home, which the confined runs cannot see (they would fall back to this
# one, and the comparison would be of two interpreters).
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3

names=(find git-status grep python-imports make-j2 tar-xf true)
cmds=(
	"find $w/big -type f | wc -l"
	"git -C $w/repo status --short | wc -l"
	"grep -rc lambda $w/tree | wc -l"
	"$python $w/imports.py"
	"make -s -C $w/c clean && make -s -j2 -C $w/c"
	"rm -rf $w/out/* && tar -C $w/out -xf $w/x.tar"
	"true"
)
profiles=("" "--profile git" "" "--profile python" "--profile dev" "" "")

runners=(direct capfd-kernel capfd-brokered)
if command -v bwrap >/dev/null; then runners+=(bwrap); fi

now() { date +%s%N; }
# run RUNNER I: one timed run of workload I, in nanoseconds.
run() {
	local start end
	start=$(now)
	case $1 in
	direct) sh -c "${cmds[$2]}" >/dev/null 2>&1 ;;
	capfd-kernel) "$capfd" run -q --mode kernel ${profiles[$2]} --grant "$w=rw" -- sh -c "${cmds[$2]}" >/dev/null 2>&1 ;;
	capfd-brokered) "$capfd" run -q --mode brokered ${profiles[$2]} --grant "$w=rw" -- sh -c "${cmds[$2]}" >/dev/null 2>&1 ;;
	bwrap) bwrap --ro-bind / / --bind "$w" "$w" --dev /dev --proc /proc -- sh -c "${cmds[$2]}" >/dev/null 2>&1 ;;
	esac
	end=$(now)
	echo $((end - start))
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -A samples
for i in "${!names[@]}"; do
	for r in "${runners[@]}"; do run "$r" "$i" >/dev/null; done # warm the caches
	for _ in $(seq "$rounds"); do
		for r in "${runners[@]}"; do samples[$r,$i]+="$(run "$r" "$i") "; done
	done
done

printf '| workload | direct (ms) |'
for r in "${runners[@]:1}"; do printf ' %s / direct |' "$r"; done
printf '\n|---|---|'
for _ in "${runners[@]:1}"; do printf -- '---|'; done
printf '\n'
for i in "${!names[@]}"; do
	d=$(tr ' ' '\n' <<<"${samples[direct,$i]}" | grep . | median)
	printf '| %s | %.0f |' "${names[$i]}" "$(echo "$d / 1000000" | bc -l)"
	for r in "${runners[@]:1}"; do
		m=$(tr ' ' '\n' <<<"${samples[$r,$i]}" | grep . | median)
		printf ' %.2fx |' "$(echo "$m / $d" | bc -l)"
	done
	printf '\n'
done
printf '| geometric mean (workloads) | |'
for r in "${runners[@]:1}"; do
	g=0
	for i in "${!names[@]}"; do
		[ "${names[$i]}" = true ] && continue # start-up alone, not a workload
		d=$(tr ' ' '\n' <<<"${samples[direct,$i]}" | grep . | median)
		m=$(tr ' ' '\n' <<<"${samples[$r,$i]}" | grep . | median)
		g=$(echo "$g + l($m / $d)" | bc -l)
	done
	printf ' %.2fx |' "$(echo "e($g / (${#names[@]} - 1))" | bc -l)"
done
printf '\n'
echo "($rounds rounds each, medians; $(nproc) CPUs)"
