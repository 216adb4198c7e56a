package broker

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/rights"
)

func TestRemoteFSConformance(t *testing.T) {
	dir := testTree(t)
	srv := newServer(t, Config{})
	r := served(t, srv, []Grant{{Name: "data", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}})
	if got := r.Roots(); len(got) != 1 || got[0] != "data" {
		t.Fatalf("roots %v", got)
	}
	d, err := r.Dir("data")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := fstest.TestFS(d.FS(), "hello.txt", "sub/inner.txt"); err != nil {
		t.Fatal(err)
	}
	data, err := d.ReadFile("hello.txt")
	if err != nil || string(data) != "hello, broker\n" {
		t.Fatalf("ReadFile: %q, %v", data, err)
	}
	if _, err := d.Create("new.txt"); !errors.Is(err, capfd.ErrNotCapable) {
		t.Errorf("Create through a read-only grant: %v, want ErrNotCapable", err)
	}
	if _, err := d.Stat("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(missing): %v, want ErrNotExist", err)
	}
	if _, err := d.Open("../etc/passwd"); !errors.Is(err, capfd.ErrEscape) {
		t.Errorf("Open(../etc/passwd): %v, want ErrEscape", err)
	}
}
