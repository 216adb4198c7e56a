package broker_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/rights"
)

// TestNestedGrantsByIdentity: a client granted H=rw and H/secret=ro (and
// H/a/secret2=ro) by the broker's policy gets, through H's root handle, the
// rights of the object a path reaches, whatever the name: the nested
// grant's files are refused for writing directly, through a symlink into
// it, and after a rename of its parent, through H and through a handle
// opened through H above the nested grant. Each target is writable
// plainly (the attack is real); the positive controls write elsewhere in
// H, and read the nested grant's file.
func TestNestedGrantsByIdentity(t *testing.T) {
	h := t.TempDir()
	secret, secret2 := filepath.Join(h, "secret"), filepath.Join(h, "a", "secret2")
	for _, d := range []string{secret, secret2} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{secret + "/key", secret2 + "/key"} {
		if err := os.WriteFile(f, []byte("key\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// Plainly, each key is writable.
		w, err := os.OpenFile(f, os.O_RDWR, 0)
		if err != nil {
			t.Fatalf("%s is not writable plainly: %v", f, err)
		}
		w.Close()
	}
	b := startBroker(t, []grantSpec{{"h", h, "rw"}, {"secret", secret, "ro"}, {"secret2", secret2, "ro"}}, "")
	d := rootDir(t, dial(t, b), "h")

	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, capfd.ErrNotCapable) {
			t.Errorf("%s: got %v, want ErrNotCapable", what, err)
		}
	}
	works := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	openRW := func(dir *capfd.Dir, name string) error { return closed(dir.OpenFile(name, os.O_RDWR, 0)) }

	// (1) directly
	refused("open secret/key O_RDWR through H", openRW(d, "secret/key"))
	refused("create secret/new through H", closed(d.Create("secret/new")))
	refused("remove secret/key through H", d.Remove("secret/key"))
	refused("chmod secret/key through H", d.Chmod("secret/key", 0o666))
	refused("opendir secret rw through H", closedDir(d.OpenDir("secret", rights.Uniform(rights.ReadWrite))))
	works("read secret/key through H", closed(d.Open("secret/key")))
	works("create other.txt through H", d.WriteFile("other.txt", []byte("other\n"), 0o644))

	// (2) a symlink into the nested grant, in the middle or at the end
	works("symlink l -> secret", d.Symlink("secret", "l"))
	works("symlink lk -> secret/key", d.Symlink("secret/key", "lk"))
	refused("open l/key for writing through H", closed(d.OpenFile("l/key", os.O_WRONLY, 0)))
	refused("open lk for writing through H", closed(d.OpenFile("lk", os.O_WRONLY|os.O_TRUNC, 0)))
	refused("truncate lk through H", d.Truncate("lk", 0))
	works("read l/key through H", closed(d.Open("l/key")))

	// (3) the nested grant's parent renamed
	works("rename a -> b", d.Rename("a", nil, "b"))
	refused("write b/secret2/key after the rename", closed(d.OpenFile("b/secret2/key", os.O_WRONLY, 0)))
	works("create b/plain.txt after the rename", d.WriteFile("b/plain.txt", []byte("p\n"), 0o644))

	// A handle opened through H, above the nested grant: placed as well.
	bd, err := d.OpenDir("b", rights.Uniform(rights.ReadWrite))
	if err != nil {
		t.Fatal(err)
	}
	defer bd.Close()
	refused("open secret2/key O_RDWR through H/b", openRW(bd, "secret2/key"))
	works("create via-b.txt through H/b", bd.WriteFile("via-b.txt", []byte("b\n"), 0o644))

	for _, f := range []string{secret + "/key", h + "/b/secret2/key"} {
		if got, err := os.ReadFile(f); err != nil || string(got) != "key\n" {
			t.Errorf("%s changed: %q %v", f, got, err)
		}
	}
	if _, err := os.Lstat(secret + "/new"); !os.IsNotExist(err) {
		t.Errorf("secret/new was created: %v", err)
	}
}

// TestBaseInheritByIdentity: a grant D=lookup,readdir,stat:rw lets the
// client change entries beneath D's subdirectories, never D's own entries
// (base rights). With D/sub/up -> .., "sub/up" is D itself: opening it as
// a directory with read-write base rights (which handed out D with its
// inherit rights as its base, through which D/x could be made) is refused,
// as is creating "sub/up/x" through D, while opening "sub" read-write and
// creating "x" through it works. Plainly D/x can be created.
func TestBaseInheritByIdentity(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join(dir, "sub", "up")); err != nil {
		t.Fatal(err)
	}
	// Plainly, D/x can be made (and is removed again).
	if err := os.WriteFile(filepath.Join(dir, "plain"), nil, 0o644); err != nil {
		t.Fatalf("D is not writable plainly: %v", err)
	}
	os.Remove(filepath.Join(dir, "plain"))
	b := startBroker(t, []grantSpec{{"d", dir, "lookup,readdir,stat:rw"}}, "")
	d := rootDir(t, dial(t, b), "d")
	rw := rights.Uniform(rights.ReadWrite)

	if err := closed(d.Create("sub/up/x")); !errors.Is(err, capfd.ErrNotCapable) {
		t.Errorf("create sub/up/x through D: got %v, want ErrNotCapable", err)
	}
	if err := closedDir(d.OpenDir("sub/up", rw)); !errors.Is(err, capfd.ErrNotCapable) {
		t.Errorf("opendir sub/up read-write through D: got %v, want ErrNotCapable", err)
	}
	sub, err := d.OpenDir("sub", rw)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := closed(sub.Create("x")); err != nil {
		t.Errorf("create x through D/sub: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub", "x")); err != nil {
		t.Errorf("sub/x: %v", err)
	}
	for _, name := range []string{"x"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("D/%s was made: %v", name, err)
		}
	}
}

// closedDir closes d if there is one and returns err.
func closedDir(d *capfd.Dir, err error) error {
	if err == nil {
		d.Close()
	}
	return err
}
