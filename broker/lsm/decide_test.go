//go:build linux

package lsm

import (
	"bufio"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
