package run

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestListingNeedsReaddir: a directory's data are its entries, so reading
// them needs readdir whatever the open's flags. A grant of read without
// readdir lets a program read the files in it (positive control) but not
// list the directory by opening it O_RDONLY without O_DIRECTORY and calling
// getdents, which works unconfined (the attack is real).
func TestListingNeedsReaddir(t *testing.T) {
	requireRun(t)
	top := t.TempDir()
	dir := mkdir(t, filepath.Join(top, "secret-names"))
	for _, n := range []string{"alpha", "beta"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	unconfined := run(t, top, bin.listdir, "list", dir)
	if !strings.HasPrefix(unconfined.stdout, "ok 4") { // ., .., alpha, beta
		t.Fatalf("unconfined listing: %+v, want ok 4", unconfined)
	}
	grant := []string{"--grant", dir + "=lookup,read,stat", "--grant", bin.dir + "=rx"}
	if got := capfdRun(t, top, grant, bin.listdir, "list", dir); strings.TrimSpace(got.stdout) != "EACCES" {
		t.Errorf("listing with read but no readdir: %+v, want EACCES", got)
	}
	if got := capfdRun(t, top, grant, bin.listdir, "read", filepath.Join(dir, "alpha")); strings.TrimSpace(got.stdout) != "ok 4" {
		t.Errorf("reading a file with read: %+v, want ok 4", got)
	}
	withReaddir := []string{"--grant", dir + "=lookup,read,readdir,stat", "--grant", bin.dir + "=rx"}
	if got := capfdRun(t, top, withReaddir, bin.listdir, "list", dir); !strings.HasPrefix(got.stdout, "ok 4") {
		t.Errorf("listing with readdir: %+v, want ok 4", got)
	}
}
