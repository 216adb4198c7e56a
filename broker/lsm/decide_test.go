//go:build linux

package lsm

import (
	"bufio"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/internal/vmtest"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

//go:embed bpf/decide.h
var decideHeader string

// decideHarness prints, for each "open FMODE FLAGS" or "rename FLAGS
// EXISTS" line on stdin, what decide.h answers.
const decideHarness = `
#include <stdio.h>
#include <string.h>
typedef unsigned int __u32;
typedef unsigned long long __u64;
#ifndef __always_inline
#define __always_inline inline
#endif
#include "decide.h"
int main(void) {
	char op[16];
	unsigned int a, b, c;
	while (scanf("%15s %u %u %u", op, &a, &b, &c) == 4) {
		if (!strcmp(op, "open")) {
			printf("%llu %llu\n", open_need(a, b, (int)c), open_dir_need(b));
		} else {
			__u64 o, n;
			rename_need(a, (int)b, &o, &n);
			printf("%llu %llu\n", o, n);
		}
	}
	return 0;
}
`

// TestDecideMatchesRequest builds the BPF program's rules (bpf/decide.h)
// as ordinary C and checks every answer against vfsops.Request, the rule
// every other layer asks: each access mode with each combination of the
// flags that change rights, and every rename flag with the target present
// or not.
func TestDecideMatchesRequest(t *testing.T) {
	cc, err := exec.LookPath("gcc")
	if err != nil {
		if vmtest.InVM() {
			t.Skip("no C compiler in the VM guest; the host runs this test")
		}
		t.Fatalf("gcc not found (scripts/setup.sh installs it): %v", err)
	}
	dir := t.TempDir()
	for name, text := range map[string]string{"decide.h": decideHeader, "harness.c": decideHarness} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "harness")
	if out, err := exec.Command(cc, "-Wall", "-Werror", "-o", bin, filepath.Join(dir, "harness.c")).CombinedOutput(); err != nil {
		t.Fatalf("compile decide.h: %v\n%s", err, out)
	}

	type openCase struct {
		flags int
		fmode uint
		isDir bool
	}
	var opens []openCase
	modes := []struct {
		acc   int
		fmode uint
	}{{unix.O_RDONLY, 1}, {unix.O_WRONLY, 2}, {unix.O_RDWR, 3}, {unix.O_ACCMODE, 0}}
	// O_TMPFILE's own bit (it includes O_DIRECTORY's).
	extras := []int{unix.O_APPEND, unix.O_TRUNC, unix.O_DIRECTORY, unix.O_TMPFILE &^ unix.O_DIRECTORY}
	for _, m := range modes {
		for mask := 0; mask < 1<<len(extras); mask++ {
			flags := m.acc
			for i, e := range extras {
				if mask&(1<<i) != 0 {
					flags |= e
				}
			}
			opens = append(opens, openCase{flags, m.fmode, false})
			if flags&(unix.O_TMPFILE&^unix.O_DIRECTORY) == 0 {
				// O_TMPFILE's object is always a new regular file.
				opens = append(opens, openCase{flags, m.fmode, true})
			}
		}
	}
	type renameCase struct {
		flags  int
		exists bool
	}
	var renames []renameCase
	for _, f := range []int{0, unix.RENAME_NOREPLACE, unix.RENAME_EXCHANGE} {
		for _, ex := range []bool{false, true} {
			if f == unix.RENAME_NOREPLACE && ex {
				continue // the kernel fails EEXIST before the hook
			}
			renames = append(renames, renameCase{f, ex})
		}
	}

	var in strings.Builder
	for _, o := range opens {
		dir := 0
		if o.isDir {
			dir = 1
		}
		fmt.Fprintf(&in, "open %d %d %d\n", o.fmode, o.flags, dir)
	}
	for _, r := range renames {
		ex := 0
		if r.exists {
			ex = 1
		}
		fmt.Fprintf(&in, "rename %d %d 0\n", r.flags, ex)
	}
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	next := func() string {
		if !sc.Scan() {
			t.Fatal("harness: too few answers")
		}
		return sc.Text()
	}
	for _, o := range opens {
		var got, gotDir uint64
		fmt.Sscan(next(), &got, &gotDir)
		want := vfsops.Request{Op: vfsops.OpOpen, Flags: o.flags, IsDir: o.isDir}.On(vfsops.OnObject)
		if rights.Rights(got) != want {
			t.Errorf("open flags %#o (directory %v): BPF needs %v, vfsops %v", o.flags, o.isDir, rights.Rights(got), want)
		}
		// O_CREAT's create is inode_create's; an O_TMPFILE open reaches no
		// create hook, so file_open asks it of the directory itself.
		var wantDir rights.Rights
		if o.flags&(unix.O_TMPFILE&^unix.O_DIRECTORY) != 0 {
			wantDir = vfsops.Request{Op: vfsops.OpOpen, Flags: o.flags}.On(vfsops.OnDir).Without(rights.Lookup)
		}
		if rights.Rights(gotDir) != wantDir {
			t.Errorf("open flags %#o: BPF needs %v of the directory, vfsops %v", o.flags, rights.Rights(gotDir), wantDir)
		}
	}
	for _, r := range renames {
		var gotOld, gotNew uint64
		fmt.Sscan(next(), &gotOld, &gotNew)
		req := vfsops.Request{Op: vfsops.OpRename, Flags: r.flags, Replaces: r.exists}
		// The kernel has looked both names up before the hook.
		wantOld, wantNew := req.On(vfsops.OnSourceDir).Without(rights.Lookup), req.On(vfsops.OnTargetDir).Without(rights.Lookup)
		if rights.Rights(gotOld) != wantOld || rights.Rights(gotNew) != wantNew {
			t.Errorf("rename flags %#x exists %v: BPF needs %v / %v, vfsops %v / %v", r.flags, r.exists,
				rights.Rights(gotOld), rights.Rights(gotNew), wantOld, wantNew)
		}
	}
}

// capModeHarness prints, for each line "net OP SOCKFAMILY ISTCP
// ADDRFAMILY ADDRLEN SUNPATH0 FLAGS GRANTED", net_addr_kind's and
// net_allowed's answers; for "sig FLAGS SAME", signal_allowed's; for
// "const 0 0 0 0 0 0 0 0", decide.h's flags and ops.
const capModeHarness = `
#include <stdio.h>
#include <string.h>
typedef unsigned int __u32;
typedef unsigned long long __u64;
#ifndef __always_inline
#define __always_inline inline
#endif
#include "decide.h"
int main(void) {
	char op[16];
	int a[8];
	while (scanf("%15s %d %d %d %d %d %d %d %d", op, &a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &a[6], &a[7]) == 9) {
		if (!strcmp(op, "net")) {
			int kind = net_addr_kind(a[0], a[1], a[2], a[3], a[4], a[5]);
			printf("%d %d\n", kind, net_allowed((__u32)a[6], kind, a[7]));
		} else if (!strcmp(op, "sig")) {
			printf("%d\n", signal_allowed((__u32)a[0], a[1]) != 0);
		} else {
			printf("%u %u %u %d %d\n", CAPMODE_NET, CAPMODE_ABSTRACT, CAPMODE_SIGNAL, NET_CONNECT, NET_BIND);
		}
	}
	return 0;
}
`

// wantNetAllowed is capability mode's rule for a connect or bind (op) by a
// marked task itself, stated from capmode's side (docs/capability-mode.md):
// an INET socket reaches a TCP port only if c grants it, anything else of
// INET only with the whole network (a connect to AF_UNSPEC disconnects);
// a Unix socket's abstract name only with Abstract, a pathname never (the
// supervisor performs those), no name always; other families are
// seccomp's business.
func wantNetAllowed(c CapMode, op, sockFamily int, isTCP bool, addrFamily, addrlen int, sunPath0 byte, port uint16) bool {
	switch sockFamily {
	case unix.AF_INET, unix.AF_INET6:
		if op == netConnect && addrlen >= 2 && addrFamily == unix.AF_UNSPEC {
			return true
		}
		if c.Net {
			return true
		}
		if !isTCP || addrlen < 4 {
			return false
		}
		if op == netConnect {
			return slices.Contains(c.ConnectTCP, port)
		}
		return slices.Contains(c.BindTCP, port)
	case unix.AF_UNIX:
		if addrFamily != unix.AF_UNIX || addrlen <= 2 {
			return true
		}
		if sunPath0 == 0 {
			return c.Abstract
		}
		return false
	}
	return true
}

// TestCapModeDecisions builds capability mode's rules of the BPF program
// (net_addr_kind, net_allowed, signal_allowed in bpf/decide.h) as ordinary
// C and checks every answer against wantNetAllowed and the same-sandbox
// rule for signals, over policies that give back nothing, ports, the
// network, abstract names and signals; and that decide.h's flag and op
// values are the Go side's.
func TestCapModeDecisions(t *testing.T) {
	bin := buildHarness(t, capModeHarness)
	policies := []CapMode{
		{},
		{ConnectTCP: []uint16{443}, BindTCP: []uint16{0, 8080}},
		{Net: true},
		{Abstract: true},
		{Signal: true},
		{Net: true, Abstract: true, Signal: true},
	}
	type netCase struct {
		c                CapMode
		op, sockFam      int
		tcp              bool
		addrFam, addrlen int
		sunPath0         byte
		port             uint16
	}
	var cases []netCase
	for _, c := range policies {
		for _, op := range []int{netConnect, netBind} {
			for _, sf := range []int{unix.AF_INET, unix.AF_INET6, unix.AF_UNIX, unix.AF_NETLINK} {
				for _, tcp := range []bool{false, true} {
					for _, af := range []int{unix.AF_UNSPEC, unix.AF_UNIX, unix.AF_INET, unix.AF_INET6} {
						for _, l := range []int{0, 1, 2, 3, 4, 16, 28, 110} {
							for _, sp := range []byte{0, '/'} {
								for _, port := range []uint16{0, 443, 8080, 22} {
									cases = append(cases, netCase{c: c, op: op, sockFam: sf, tcp: tcp, addrFam: af, addrlen: l, sunPath0: sp, port: port})
								}
							}
						}
					}
				}
			}
		}
	}
	var in strings.Builder
	fmt.Fprintf(&in, "const 0 0 0 0 0 0 0 0\n")
	for _, k := range cases {
		granted := slices.Contains(k.c.ConnectTCP, k.port)
		if k.op == netBind {
			granted = slices.Contains(k.c.BindTCP, k.port)
		}
		fmt.Fprintf(&in, "net %d %d %d %d %d %d %d %d\n", k.op, k.sockFam, b2i(k.tcp), k.addrFam, k.addrlen, k.sunPath0, k.c.flags(), b2i(granted))
	}
	for _, c := range policies {
		for _, same := range []bool{false, true} {
			fmt.Fprintf(&in, "sig %d %d 0 0 0 0 0 0\n", c.flags(), b2i(same))
		}
	}
	sc := runHarness(t, bin, in.String())
	var net, abstract, signal uint32
	var connect, bind int
	fmt.Sscan(sc(), &net, &abstract, &signal, &connect, &bind)
	if net != capmodeNet || abstract != capmodeAbstract || signal != capmodeSignal || connect != netConnect || bind != netBind {
		t.Fatalf("decide.h's CAPMODE_NET/ABSTRACT/SIGNAL, NET_CONNECT/BIND = %d %d %d %d %d; Go has %d %d %d %d %d",
			net, abstract, signal, connect, bind, capmodeNet, capmodeAbstract, capmodeSignal, netConnect, netBind)
	}
	allowedSome, refusedSome := 0, 0
	for _, k := range cases {
		var kind, got int
		fmt.Sscan(sc(), &kind, &got)
		want := wantNetAllowed(k.c, k.op, k.sockFam, k.tcp, k.addrFam, k.addrlen, k.sunPath0, k.port)
		if (got != 0) != want {
			t.Errorf("%+v: op %d socket family %d tcp %v address family %d len %d sun_path[0] %q port %d: BPF says %v (kind %d), capmode %v",
				k.c, k.op, k.sockFam, k.tcp, k.addrFam, k.addrlen, k.sunPath0, k.port, got != 0, kind, want)
		}
		if want {
			allowedSome++
		} else {
			refusedSome++
		}
	}
	if allowedSome == 0 || refusedSome == 0 {
		t.Fatalf("degenerate table: %d allowed, %d refused", allowedSome, refusedSome)
	}
	for _, c := range policies {
		for _, same := range []bool{false, true} {
			var got int
			fmt.Sscan(sc(), &got)
			if want := same || c.Signal; (got != 0) != want {
				t.Errorf("%+v: signal within the sandbox %v: BPF says %v, want %v", c, same, got != 0, want)
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// buildHarness compiles harness with decide.h beside it using the host's C
// compiler and returns the binary.
func buildHarness(t *testing.T, harness string) string {
	t.Helper()
	cc, err := exec.LookPath("gcc")
	if err != nil {
		if vmtest.InVM() {
			t.Skip("no C compiler in the VM guest; the host runs this test")
		}
		t.Fatalf("gcc not found (scripts/setup.sh installs it): %v", err)
	}
	dir := t.TempDir()
	for name, text := range map[string]string{"decide.h": decideHeader, "harness.c": harness} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "harness")
	if out, err := exec.Command(cc, "-Wall", "-Werror", "-o", bin, filepath.Join(dir, "harness.c")).CombinedOutput(); err != nil {
		t.Fatalf("compile decide.h: %v\n%s", err, out)
	}
	return bin
}

// runHarness feeds in to bin and returns a reader of its answers, one line
// per call, failing the test when they run out.
func runHarness(t *testing.T, bin, in string) func() string {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	return func() string {
		t.Helper()
		if !sc.Scan() {
			t.Fatal("harness: too few answers")
		}
		return sc.Text()
	}
}
