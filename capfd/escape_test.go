package capfd

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// escapeTree makes outside/secret next to root, and inside root symlinks
// that point out of it in every way a symlink can.
func escapeTree(t testing.TB) (root string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	for _, dir := range []string{root, outside} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	populate(t, root)
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"abs-out":  filepath.Join(outside),      // absolute symlink to a directory outside
		"rel-out":  "../outside",                // relative symlink climbing out
		"deep-out": "sub/../../outside",         // climbing out through an inner directory
		"magic":    "/proc/self/root" + outside, // a magic link
		"file-out": filepath.Join(outside, "secret"),
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// escapePaths are names that reach outside/secret from root when joined
// naively (filepath.Join(root, name)) and opened with the ambient os API.
var escapePaths = []string{
	"../outside/secret",
	"sub/../../outside/secret",
	"abs-out/secret",
	"rel-out/secret",
	"deep-out/secret",
	"magic/secret",
	"file-out", // a symlink in the last component
	"ABS",      // replaced by the absolute path of the secret
}

func resolvePath(p, root string) string {
	if p == "ABS" {
		return filepath.Join(filepath.Dir(root), "outside", "secret")
	}
	return p
}

// TestEscapesRefused: every escape path reaches the secret through the
// ambient os API (the attack works without capfd), and every capfd method
// given it fails with ErrEscape, with both openat2 and the fallback walker.
func TestEscapesRefused(t *testing.T) {
	checkNoFdLeak(t)
	for _, fallback := range []bool{false, true} {
		name := "openat2"
		if fallback {
			name = "fallback"
		}
		t.Run(name, func(t *testing.T) {
			prev := vfsops.ForceFallback(fallback)
			defer vfsops.ForceFallback(prev)
			root := escapeTree(t)
			d := openTestDir(t, root, rights.Uniform(rights.All))
			for _, p := range escapePaths {
				p := resolvePath(p, root)
				t.Run(strings.ReplaceAll(p, "/", "_"), func(t *testing.T) {
					// Without capfd: the naive join reaches the secret.
					naive := p
					if !filepath.IsAbs(p) {
						naive = filepath.Join(root, p)
					}
					if data, err := os.ReadFile(naive); err != nil || string(data) != "secret\n" {
						t.Fatalf("the attack does not work even without capfd (%v): fix the test", err)
					}
					// With capfd: every method refuses it as an escape.
					for _, m := range escapeMethods {
						if p == "file-out" && !m.follows {
							continue
						}
						err := m.run(d, p)
						if !errors.Is(err, ErrEscape) {
							t.Errorf("%s(%q) = %v, want ErrEscape", m.name, p, err)
						}
						// To generic io/fs code a refusal; the errno stays.
						var errno unix.Errno
						if !errors.Is(err, fs.ErrPermission) || !errors.As(err, &errno) || (errno != unix.EXDEV && errno != unix.ELOOP) {
							t.Errorf("%s(%q) = %v: want it to match fs.ErrPermission too, and keep its errno (EXDEV or ELOOP)", m.name, p, err)
						}
					}
				})
			}
		})
	}
}

// escapeMethods are the methods that take a path. follows marks those
// that follow a symlink in the last component; the others act on the
// symlink itself, which is inside, so a final symlink pointing out is no
// escape for them.
var escapeMethods = []struct {
	name    string
	follows bool
	run     func(d *Dir, p string) error
}{
	{"Open", true, func(d *Dir, p string) error { return closeFile(d.Open(p)) }},
	{"OpenFile/path", true, func(d *Dir, p string) error { return closeFile(d.OpenFile(p, unix.O_PATH, 0)) }},
	{"ReadFile", true, func(d *Dir, p string) error { _, err := d.ReadFile(p); return err }},
	{"WriteFile", true, func(d *Dir, p string) error { return d.WriteFile(p, []byte("x"), 0o644) }},
	{"OpenDir", false, func(d *Dir, p string) error { return closeDir(d.OpenDir(filepath.Dir(p), d.Rights())) }},
	{"Stat", true, func(d *Dir, p string) error { _, err := d.Stat(p); return err }},
	{"Lstat", false, func(d *Dir, p string) error { _, err := d.Lstat(p); return err }},
	{"Chmod", true, func(d *Dir, p string) error { return d.Chmod(p, 0o777) }},
	{"Chtimes", true, func(d *Dir, p string) error { return d.Chtimes(p, time.Unix(5, 0), time.Unix(5, 0)) }},
	{"Truncate", true, func(d *Dir, p string) error { return d.Truncate(p, 0) }},
	{"Remove", false, func(d *Dir, p string) error { return d.Remove(p) }},
	{"Rename/from", false, func(d *Dir, p string) error { return d.Rename(p, nil, "stolen") }},
	{"Rename/to", false, func(d *Dir, p string) error { return d.Rename("file", nil, p) }},
	{"Link/from", false, func(d *Dir, p string) error { return d.Link(p, nil, "stolen") }},
	{"Link/to", false, func(d *Dir, p string) error { return d.Link("file", nil, p) }},
	{"Symlink/at", false, func(d *Dir, p string) error { return d.Symlink("file", p) }},
	{"Readlink", false, func(d *Dir, p string) error { _, err := d.Readlink(p); return err }},
	{"Mkdir", false, func(d *Dir, p string) error { return d.Mkdir(p, 0o755) }},
	{"ReadDir", false, func(d *Dir, p string) error { _, err := d.ReadDir(filepath.Dir(p)); return err }},
}

// TestEscapeSecretUntouched: after every escape attempt above, the secret
// outside is as it was (no write, chmod, rename or unlink got through).
func TestEscapeSecretUntouched(t *testing.T) {
	root := escapeTree(t)
	secret := filepath.Join(filepath.Dir(root), "outside")
	before := snapshot(t, secret)
	d := openTestDir(t, root, rights.Uniform(rights.All))
	for _, p := range escapePaths {
		for _, m := range escapeMethods {
			if p != "file-out" || m.follows {
				m.run(d, resolvePath(p, root))
			}
		}
	}
	if after := snapshot(t, secret); after != before {
		t.Fatalf("the outside directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestInRootContains: with InRoot, ".." at the top and absolute symlinks
// stay inside: the same paths resolve to files of the tree, not the secret.
func TestInRootContains(t *testing.T) {
	root := escapeTree(t)
	if err := os.Symlink("/file", filepath.Join(root, "abs-in")); err != nil {
		t.Fatal(err)
	}
	plain := openTestDir(t, root, rights.Uniform(rights.All))
	inRoot := openTestDir(t, root, rights.Uniform(rights.All), InRoot)
	for _, p := range []string{"../file", "../../../file", "abs-in", "/file", "sub/../../file"} {
		if _, err := plain.ReadFile(p); !errors.Is(err, ErrEscape) {
			t.Errorf("without InRoot, ReadFile(%q) = %v, want ErrEscape", p, err)
		}
		data, err := inRoot.ReadFile(p)
		if err != nil || string(data) != "hello\n" {
			t.Errorf("with InRoot, ReadFile(%q) = %q, %v; want the tree's own file", p, data, err)
		}
	}
	// Sub-directories inherit the option.
	sub, err := inRoot.OpenDir("sub", inRoot.Rights())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if data, err := sub.ReadFile("../../deep/x"); err != nil || string(data) != "x\n" {
		t.Errorf("InRoot sub-directory: ReadFile = %q, %v; want sub/deep/x", data, err)
	}
}

// TestNoSymlinksInherited: NoSymlinks refuses even inside symlinks, and a
// Dir opened through such a Dir keeps refusing them.
func TestNoSymlinksInherited(t *testing.T) {
	root, _ := tree(t, rights.Uniform(rights.All))
	if err := os.Symlink("../file", filepath.Join(root, "sub", "up")); err != nil {
		t.Fatal(err)
	}
	d := openTestDir(t, root, rights.Uniform(rights.All), NoSymlinks)
	if _, err := d.ReadFile("link"); err == nil {
		t.Fatal("NoSymlinks: ReadFile through an inside symlink succeeded")
	}
	sub, err := d.OpenDir("sub", d.Rights())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := sub.ReadFile("up"); err == nil {
		t.Fatal("NoSymlinks was not inherited by OpenDir")
	}
	plain := openTestDir(t, filepath.Join(root, "sub"), rights.Uniform(rights.All))
	if _, err := plain.ReadFile("up"); !errors.Is(err, ErrEscape) {
		t.Fatalf("control: without NoSymlinks sub/up is an escape, got %v", err)
	}
}

// TestNoXDev: with NoXDev a path that crosses a mount point is refused as
// an escape, for the Dir and for the Dirs opened through it; without it the
// same path opens. /sys/fs/cgroup is a mount inside sysfs.
func TestNoXDev(t *testing.T) {
	var sysSt, cgSt unix.Stat_t
	if unix.Stat("/sys/fs", &sysSt) != nil || unix.Stat("/sys/fs/cgroup", &cgSt) != nil || sysSt.Dev == cgSt.Dev {
		t.Skip("needs a filesystem mounted on /sys/fs/cgroup")
	}
	for _, c := range []struct {
		name string
		how  []Resolve
		want error
	}{
		{"plain", nil, nil},
		{"NoXDev", []Resolve{NoXDev}, ErrEscape},
	} {
		t.Run(c.name, func(t *testing.T) {
			sys := openTestDir(t, "/sys", rights.Uniform(rights.ReadOnly), c.how...)
			if err := closeDir(sys.OpenDir("fs/cgroup", sys.Rights())); !errors.Is(err, c.want) {
				t.Fatalf("OpenDir across the mount = %v, want %v", err, c.want)
			}
			fs, err := sys.OpenDir("fs", sys.Rights())
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close()
			if err := closeDir(fs.OpenDir("cgroup", fs.Rights())); !errors.Is(err, c.want) {
				t.Fatalf("through a Dir opened from it: OpenDir across the mount = %v, want %v", err, c.want)
			}
		})
	}
}
