package realprog

import (
	"strings"
	"testing"
)

// python is Debian's interpreter: `python3` on PATH may be a pyenv shim
// that reads the caller's home directory first.
const python = "/usr/bin/python3"

// goTool is the project's Go, outside every directory of the default
// profile.
const goTool = "/usr/local/go/bin/go"

// gitDates makes commits reproducible: the same hashes in both runs.
const gitDates = `export GIT_AUTHOR_DATE='2021-03-04T05:06:07Z' GIT_COMMITTER_DATE='2021-03-04T05:06:07Z'
export GIT_AUTHOR_NAME=T GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=T GIT_COMMITTER_EMAIL=t@example.org
`

var matrix = []workload{
	{
		name:        "ls -la",
		needs:       []string{"ls"},
		script:      "ls -la && ls -laR src",
		viewDiffers: true, // ".." is the view's skeleton
	},
	{
		name:   "cp -a",
		needs:  []string{"cp", "cmp"},
		script: "cp -a src copy && cp -a src/a.txt src/sub/a-copy.txt && cmp src/b.txt copy/b.txt && echo same",
	},
	{
		name:   "rm -r",
		needs:  []string{"rm", "ls"},
		script: "rm -r src/sub && rm -rf src/empty src/link src/missing && ls -A src",
	},
	{
		name:   "tar c",
		needs:  []string{"tar"},
		script: "tar -cf src.tar src && tar -tvf src.tar",
	},
	{
		name:   "tar x",
		needs:  []string{"tar"},
		setup:  func(t *testing.T, work string) { tarball(t, work, "pkg.tar") },
		script: "mkdir out && tar -xf pkg.tar -C out && tar -tvf pkg.tar && ls -ln out/pkg",
		// Restoring the archive's owners as root takes CAP_CHOWN and the
		// chown right.
		rights: "rw,chown",
		flags:  []string{"--keep-caps"},
	},
	{
		name:   "tar c+x as uid 65534",
		needs:  []string{"tar"},
		setup:  func(t *testing.T, work string) { tarball(t, work, "pkg.tar") },
		script: "mkdir out && tar -xf pkg.tar -C out && tar -cf src.tar src && mkdir again && tar -xf src.tar -C again && ls -lnR out again",
		asUser: true,
	},
	{
		name:   "gzip and xz",
		needs:  []string{"gzip", "xz", "cmp"},
		script: "gzip -k -n -9 src/b.txt && xz -k src/sub/c.txt && gzip -l src/b.txt.gz && xz -dc src/sub/c.txt.xz && gzip -dc src/b.txt.gz | cmp - src/b.txt && xz -d < src/sub/c.txt.xz > c.out && gzip -c src/a.txt > a.gz && gzip -t a.gz && echo ok",
	},
	{
		name:   "sh script",
		needs:  []string{"sh", "sort", "wc", "mktemp", "sed", "grep", "find"},
		setup:  func(t *testing.T, work string) { write(t, work, "script.sh", shScript, 0o755) },
		script: "./script.sh",
		rights: "rw,exec", // it runs ./script.sh
	},
	{
		name:   "sh script as uid 65534",
		needs:  []string{"sh", "sort", "wc", "mktemp", "sed", "grep", "find"},
		setup:  func(t *testing.T, work string) { write(t, work, "script.sh", shScript, 0o755) },
		script: "./script.sh",
		rights: "rw,exec", // it runs ./script.sh
		asUser: true,
	},
	{
		name:   "bash script",
		needs:  []string{"bash", "sort", "diff"},
		setup:  func(t *testing.T, work string) { write(t, work, "script.bash", bashScript, 0o755) },
		script: "bash ./script.bash",
	},
	{
		name:   "python3 sqlite3 and multiprocessing",
		needs:  []string{python},
		setup:  func(t *testing.T, work string) { write(t, work, "script.py", pyScript, 0o644) },
		script: python + " script.py",
		// multiprocessing's semaphores live in /dev/shm, which only the
		// posix-shm profile grants (a writable namespace the whole host
		// shares, so never by default).
		flags: []string{"--profile", "posix-shm"},
	},
	{
		name:   "perl with modules",
		needs:  []string{"perl"},
		setup:  func(t *testing.T, work string) { write(t, work, "script.pl", perlScript, 0o644) },
		script: "perl script.pl",
	},
	{
		name:  "git init add commit status",
		needs: []string{"git"},
		script: gitDates + `git init -q -b main repo && cd repo && cp -a ../src/. . &&
git add . && git commit -q -m first && echo changed >> a.txt && echo new > new.txt &&
git status --short && git add -A && git commit -q -m second && git log --format='%H %s' && git status --short`,
		// Stat data (inode numbers, ctimes) in the index.
		volatile: []string{"repo/.git/index"},
	},
	{
		name:  "make and gcc",
		needs: []string{"make", "gcc"},
		setup: func(t *testing.T, work string) {
			write(t, work, "c/Makefile", makefile, 0o644)
			write(t, work, "c/main.c", "#include <stdio.h>\n#include \"greet.h\"\nint main(void) { greet(\"make\"); return 0; }\n", 0o644)
			write(t, work, "c/greet.c", "#include <stdio.h>\n#include \"greet.h\"\nvoid greet(const char *who) { printf(\"hello, %s\\n\", who); }\n", 0o644)
			write(t, work, "c/greet.h", "void greet(const char *who);\n", 0o644)
		},
		script: "cd c && make && ./hello && make clean && ls",
		rights: "rw,exec", // it runs ./hello
	},
	{
		name:  "go build",
		needs: []string{goTool},
		setup: func(t *testing.T, work string) {
			write(t, work, "hello/go.mod", "module example.org/hello\n\ngo 1.22\n", 0o644)
			// No imports beyond the runtime: a fresh build cache compiles
			// every package the program needs, and this keeps that short.
			write(t, work, "hello/main.go", "package main\n\nfunc main() { println(\"hello from go\") }\n", 0o644)
		},
		script: "export PATH=/usr/local/go/bin:$PATH GOCACHE=$PWD/gocache GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath; cd hello && go build -o hello . && ./hello 2>&1",
		rights: "rw,exec", // it runs ./hello
		// The toolchain lives outside the default profile.
		flags: []string{"--grant", "/usr/local/go=rx"},
		heavy: true,
		// The build cache has timestamps; telemetry counters are dated.
		volatile: []string{"gocache", ".config"},
	},
	{
		name:   "node",
		needs:  []string{"node"},
		setup:  func(t *testing.T, work string) { write(t, work, "script.js", nodeScript, 0o644) },
		script: "node script.js",
	},
	{
		name:   "sqlite3",
		needs:  []string{"sqlite3"},
		setup:  func(t *testing.T, work string) { write(t, work, "schema.sql", sqlScript, 0o644) },
		script: "sqlite3 db.sqlite < schema.sql && sqlite3 -csv db.sqlite 'SELECT name, qty FROM items ORDER BY name' && sqlite3 db.sqlite 'PRAGMA integrity_check'",
	},
	{
		name:   "rsync",
		needs:  []string{"rsync"},
		script: "rsync -a src/ mirror/ && echo changed > src/a.txt && rm src/sub/c.txt && rsync -a --delete --itemize-changes src/ mirror/ | sort",
	},
	{
		name:   "curl file://",
		needs:  []string{"curl"},
		script: `curl -sS -o got.txt "file://$PWD/src/a.txt" && cat got.txt && curl -sS "file://$PWD/src/sub/c.txt" && curl -sS -w '%{http_code} %{size_download}\n' -o /dev/null "file://$PWD/src/b.txt"`,
	},
}

// TestMatrix runs every workload directly and under capfd run in each
// mode; a row without knownFailure must be identical (but for what
// viewDiffers declares of kernel mode), a row with one must still differ.
func TestMatrix(t *testing.T) {
	requireRun(t)
	for _, mode := range []string{"kernel", "brokered"} {
		same, ran, skipped := 0, 0, 0
		for _, w := range matrix {
			t.Run(mode+"/"+strings.ReplaceAll(w.name, " ", "_"), func(t *testing.T) {
				skip := func(format string, args ...any) {
					skipped++
					t.Skipf(format, args...)
				}
				if why := w.skipReason(); why != "" {
					skip("%s", why)
				}
				ran++
				diffs := runWorkload(t, w, mode)
				switch {
				case len(diffs) == 0 && w.knownFailure == "":
					same++
				case len(diffs) == 0:
					same++
					t.Errorf("identical to a direct run now: remove its knownFailure %q", w.knownFailure)
				case w.knownFailure == "":
					t.Errorf("differs from a direct run:\n%s", strings.Join(diffs, "\n"))
				default:
					t.Logf("known failure (%s):\n%s", w.knownFailure, strings.Join(diffs, "\n"))
				}
			})
		}
		t.Logf("realprog, %s mode: %d of %d workloads identical to a direct run (%d skipped)", mode, same, ran, skipped)
	}
}

// TestDirectRunsAgree is the matrix's control: each row run directly
// twice, in fresh work directories at the same path, does the same, so a
// difference under capfd run is capfd's and not the row's own noise (a
// date, an inode number, a name lookup). Heavy rows only without -short.
func TestDirectRunsAgree(t *testing.T) {
	for _, w := range matrix {
		t.Run(strings.ReplaceAll(w.name, " ", "_"), func(t *testing.T) {
			if why := w.skipReason(); why != "" {
				t.Skip(why)
			}
			if diffs := runWorkload(t, w, ""); len(diffs) > 0 {
				t.Errorf("two direct runs differ (make the row reproducible, or mark what legitimately changes volatile):\n%s",
					strings.Join(diffs, "\n"))
			}
		})
	}
}

const shScript = `#!/bin/sh
set -e
greet() { printf 'hello %s\n' "$1"; }
greet world
tmp=$(mktemp)
for f in src/*.txt src/sub/*.txt; do
	printf '%s %s\n' "$(wc -c < "$f" | tr -d ' ')" "$f" >> "$tmp"
done
sort -n "$tmp" > sizes.txt
rm -f "$tmp"
cat <<EOF > here.txt
lines: $(wc -l < sizes.txt | tr -d ' ')
EOF
( cd src/sub && ls ) > sub.list
sed -e 's/alpha/ALPHA/' src/a.txt > upper.txt
grep -c bravo src/b.txt
find src -name '*.txt' | sort
case "$(cat src/a.txt)" in alpha) echo matched ;; *) echo unmatched ;; esac
command -v sort >/dev/null && echo have sort
src/run.sh
trap 'echo trapped' EXIT
cat sizes.txt here.txt
`

const bashScript = `#!/bin/bash
set -euo pipefail
shopt -s globstar nullglob
declare -A size
files=()
for f in src/**/*.txt; do
	files+=("$f")
	size[$f]=$(wc -c < "$f")
done
printf '%s\n' "${files[@]}"
for f in "${!size[@]}"; do echo "$f ${size[$f]}"; done | sort
mapfile -t lines < src/a.txt
echo "first line: ${lines[0]}"
content=$(<src/sub/c.txt)
[[ $content == char* ]] && echo "pattern matched"
printf -v padded '%05d' 42
echo "$padded"
echo {1..5}
diff <(sort src/a.txt) <(sort src/a.txt) && echo "process substitution"
while read -r word; do echo "read: $word"; done < <(printf 'x\ny\n')
exec 3> fd3.txt; echo "through fd 3" >&3; exec 3>&-
cat fd3.txt
`

const pyScript = `import json, multiprocessing, os, pathlib, sqlite3, subprocess, sys, tempfile

def square(n):
    return n * n

if __name__ == "__main__":
    db = sqlite3.connect("data.db")
    db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    db.executemany("INSERT INTO t VALUES (?, ?)", [("a", 1), ("b", 2), ("c", 3)])
    db.commit()
    print(db.execute("SELECT k, v FROM t ORDER BY k").fetchall())
    db.close()
    with multiprocessing.Pool(2) as pool:
        print(pool.map(square, range(6)))
    with tempfile.NamedTemporaryFile("w", delete=True) as f:
        f.write("tmp")
        print("tempfile ok")
    walk = sorted(str(p) for p in pathlib.Path("src").rglob("*"))
    pathlib.Path("walk.json").write_text(json.dumps(walk, indent=1) + "\n")
    print(subprocess.run(["ls", "src"], capture_output=True, text=True).stdout, end="")
    print(os.getcwd() == os.environ["HOME"], sys.version_info[0])
`

const perlScript = `use strict;
use warnings;
use File::Find;
use File::Path qw(make_path);
use File::Copy;
use File::Basename;
use List::Util qw(sum max);
use POSIX qw(floor);
use Digest::MD5 qw(md5_hex);
use JSON::PP;
use Data::Dumper;
$Data::Dumper::Sortkeys = 1;

my %sizes;
find(sub { $sizes{$File::Find::name} = -s $_ if -f $_ }, "src");
print Dumper(\%sizes);
print "sum ", sum(values %sizes), " max ", max(values %sizes), " floor ", floor(7 / 2), "\n";
make_path("out/nested");
copy("src/a.txt", "out/nested/a.txt") or die "copy: $!";
open(my $fh, "<", "src/a.txt") or die;
my $data = do { local $/; <$fh> };
print md5_hex($data), " ", basename("src/sub/c.txt"), "\n";
open(my $out, ">", "out/data.json") or die;
print $out JSON::PP->new->canonical->encode(\%sizes), "\n";
close $out;
`

const makefile = `CFLAGS = -O2 -Wall
hello: main.o greet.o
	$(CC) -o $@ main.o greet.o
%.o: %.c greet.h
	$(CC) $(CFLAGS) -c $<
clean:
	rm -f *.o
.PHONY: clean
`

const nodeScript = `const fs = require("fs"), path = require("path"), crypto = require("crypto"),
      zlib = require("zlib"), os = require("os"), cp = require("child_process");
fs.mkdirSync("out/deep", { recursive: true });
fs.writeFileSync("out/deep/x.txt", "from node\n");
const walk = d => fs.readdirSync(d, { withFileTypes: true }).flatMap(e =>
  e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]);
console.log(walk("src").sort().join("\n"));
const data = fs.readFileSync("src/b.txt");
console.log(crypto.createHash("sha256").update(data).digest("hex"));
fs.writeFileSync("out/b.gz", zlib.gzipSync(data));
console.log(zlib.gunzipSync(fs.readFileSync("out/b.gz")).equals(data));
fs.renameSync("out/deep/x.txt", "out/x.txt");
fs.rmSync("out/deep", { recursive: true });
console.log(cp.execFileSync("ls", ["out"]).toString().trim());
console.log(os.homedir() === process.cwd());
fs.promises.readFile("src/a.txt", "utf8").then(s => console.log("async:", s.trim()));
`

const sqlScript = `CREATE TABLE items (name TEXT PRIMARY KEY, qty INTEGER NOT NULL);
BEGIN;
INSERT INTO items VALUES ('apple', 3), ('pear', 5), ('plum', 7);
COMMIT;
CREATE INDEX items_qty ON items (qty);
UPDATE items SET qty = qty + 1 WHERE name = 'pear';
DELETE FROM items WHERE name = 'plum';
VACUUM;
`
