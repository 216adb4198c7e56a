package broker

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// TestOnConnectGetsTheServedObjects: the connect hook learns the identity
// of the directories the client is served, read from the broker's own
// descriptors. Swapping the grant's path while the hook runs (the window a
// second lookup of the path would have) changes neither what the hook was
// told nor what the client gets: both are the directory opened first.
func TestOnConnectGetsTheServedObjects(t *testing.T) {
	top := t.TempDir()
	path := filepath.Join(top, "granted")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "mark"), []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	original := idOfPath(t, path)
	type hookSaw struct {
		told    []GrantedObject
		swapped vfsops.FileID
	}
	saw := make(chan hookSaw, 1) // the hook runs on the broker's goroutine
	srv := newServer(t, Config{OnConnect: func(_ Identity, objects []GrantedObject) (func(), error) {
		// The attacker's move: the path now names another directory.
		if err := os.Rename(path, filepath.Join(top, "moved")); err != nil {
			return nil, err
		}
		if err := os.Mkdir(path, 0o755); err != nil {
			return nil, err
		}
		id, err := idOf(path) // not t.Fatal: this is not the test's goroutine
		if err != nil {
			return nil, err
		}
		saw <- hookSaw{objects, id}
		return nil, nil
	}})
	r := served(t, srv, []Grant{{Name: "g", Path: path, Rights: rights.Uniform(rights.ReadOnly)}})
	got := <-saw
	told, swapped := got.told, got.swapped
	if len(told) != 1 || told[0].Name != "g" || told[0].ID != original {
		t.Fatalf("hook told %+v, want grant g at %v", told, original)
	}
	if swapped == original {
		t.Fatal("the swap did not take place")
	}
	d, err := r.Dir("g")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	data, err := d.ReadFile("mark")
	if err != nil || string(data) != "original" {
		t.Fatalf("the client's root reads %q, %v; want the directory the hook was told of", data, err)
	}
}

func idOfPath(t *testing.T, p string) vfsops.FileID {
	t.Helper()
	id, err := idOf(p)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func idOf(p string) (vfsops.FileID, error) {
	d, err := os.Open(p)
	if err != nil {
		return vfsops.FileID{}, err
	}
	defer d.Close()
	return vfsops.IDOf(int(d.Fd()))
}
