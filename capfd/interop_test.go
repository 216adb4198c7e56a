package capfd_test

import (
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// TestFileServerFSAnswersRefusalsForbidden: to generic io/fs code a
// refusal is a permission error, so http.FileServerFS(dir.FS()) answers
// 403 for a file the capability may not read and for a symlink that leads
// out, not 500, on every transport; and the errors keep their own
// sentinels and errno.
func TestFileServerFSAnswersRefusalsForbidden(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	for _, d := range []string{root, filepath.Join(root, "secret"), filepath.Join(base, "outside")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{"root/page.txt": "hello\n", "root/secret/key.txt": "key\n", "outside/shadow": "shadow\n"} {
		if err := os.WriteFile(filepath.Join(base, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../outside/shadow", filepath.Join(root, "out")); err != nil {
		t.Fatal(err)
	}
	for _, tr := range pathTransports() {
		t.Run(tr.name, func(t *testing.T) {
			d := tr.open(t, root, rights.Uniform(rights.ReadOnly))
			// secret/ is a directory the server may list but whose files
			// it may not read.
			secret, err := d.OpenDir("secret", rights.Pair{Base: rights.ReadOnly, Inherit: rights.ReadOnly.Without(rights.Read)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { secret.Close() })
			mux := http.NewServeMux()
			mux.Handle("/", http.FileServerFS(d.FS()))
			mux.Handle("/secret/", http.StripPrefix("/secret", http.FileServerFS(secret.FS())))
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)

			for _, tc := range []struct {
				path string
				want int
			}{
				{"/page.txt", http.StatusOK},
				{"/missing.txt", http.StatusNotFound},
				{"/out", http.StatusForbidden},            // escape: a symlink out
				{"/secret/key.txt", http.StatusForbidden}, // not capable: no read
				{"/secret/", http.StatusOK},               // listing is allowed
			} {
				resp, err := http.Get(srv.URL + tc.path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Errorf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.want)
				}
			}

			// The errors behind the 403s: each matches fs.ErrPermission
			// and its own sentinel, and the escape keeps its errno.
			_, err = d.FS().Open("out")
			if !errors.Is(err, fs.ErrPermission) || !errors.Is(err, capfd.ErrEscape) || !errors.Is(err, unix.EXDEV) || errors.Is(err, capfd.ErrNotCapable) {
				t.Errorf("Open(out) = %v: want fs.ErrPermission, ErrEscape and EXDEV, not ErrNotCapable", err)
			}
			_, err = secret.FS().Open("key.txt")
			var ce *capfd.Error
			if !errors.Is(err, fs.ErrPermission) || !errors.Is(err, capfd.ErrNotCapable) || !errors.As(err, &ce) || errors.Is(err, capfd.ErrEscape) {
				t.Errorf("Open(key.txt) without read = %v: want fs.ErrPermission, ErrNotCapable and a *capfd.Error, not ErrEscape", err)
			}
		})
	}
}
