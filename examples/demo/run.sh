#!/bin/sh
# The capfd run demo: an unmodified cat, ls and sh, granted one directory
# read-only. Run from anywhere; set CAPFD to a built capfd binary to skip
# `go build`.
set -u
cd "$(dirname "$0")/../.."
if [ -z "${CAPFD:-}" ]; then
	CAPFD=$(mktemp -d)/capfd
	go build -o "$CAPFD" ./cmd/capfd || exit 1
fi

step() { printf '\n$ %s\n' "$*"; "$@"; echo "(exit status $?)"; }

echo "# granted: examples/demo/data read-only (plus the default profile: libraries, /bin, /dev/null...)"
step "$CAPFD" run --grant examples/demo/data=ro -- cat examples/demo/data/hello.txt
step "$CAPFD" run --grant examples/demo/data=ro -- ls -R examples/demo/data

echo
echo "# outside every grant: absent (ENOENT, whether or not it exists); in kernel mode the kernel says so"
step "$CAPFD" run --grant examples/demo/data=ro -- cat /etc/shadow

echo
echo "# the brokered mode: the supervisor answers every path request, and reports each refusal"
step "$CAPFD" run --mode brokered --grant examples/demo/data=ro -- cat /etc/shadow

echo
echo "# write through a read-only grant: refused"
step "$CAPFD" run --grant examples/demo/data=ro -- sh -c 'echo overwritten > examples/demo/data/hello.txt'

echo
echo "# the same program, a wider grant: a scratch directory read-write"
scratch=$(mktemp -d)
step "$CAPFD" run --grant examples/demo/data=ro --grant "$scratch=rw" -- sh -c "cp examples/demo/data/hello.txt $scratch/copy && cat $scratch/copy"
rm -rf "$scratch"
