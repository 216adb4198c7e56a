package vmtest

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"
)

// Guest paths. The init program (init/main.go) relies on the same layout.
const (
	guestInit = "/init"
	guestTest = "/vmtest/test"
)

// writeInitramfs packs init, the test binary and the extra files into a newc
// archive at out. It is written once and booted by every kernel of a run.
func writeInitramfs(out, initPath, testBinary string, extra map[string]string) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("initramfs: %w", cerr)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	cw := newCPIOWriter(bw)

	// The kernel opens /dev/console as init's stdio before anything is
	// mounted, so the node has to be in the archive itself.
	if err := cw.CharDev("/dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	for _, dir := range []string{"/proc", "/sys", "/tmp", "/run", "/vmtest/bin"} {
		if err := cw.Dir(dir); err != nil {
			return err
		}
	}
	if err := addHostFile(cw, guestInit, initPath); err != nil {
		return err
	}
	if err := addHostFile(cw, guestTest, testBinary); err != nil {
		return err
	}
	// Sorted so the same inputs always give the same archive.
	guestPaths := make([]string, 0, len(extra))
	for g := range extra {
		guestPaths = append(guestPaths, g)
	}
	sort.Strings(guestPaths)
	for _, g := range guestPaths {
		if !path.IsAbs(g) || g == guestInit || g == guestTest {
			return fmt.Errorf("initramfs: extra file %q: guest path must be absolute and not %s or %s", g, guestInit, guestTest)
		}
		if err := addHostTree(cw, g, extra[g]); err != nil {
			return err
		}
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

// addHostTree adds the host file or directory tree at host as guest.
// Symlinks are followed: the guest gets what the host path names.
func addHostTree(cw *cpioWriter, guest, host string) error {
	info, err := os.Stat(host)
	if err != nil {
		return fmt.Errorf("initramfs: extra file %s: %w", guest, err)
	}
	if !info.IsDir() {
		return addHostFile(cw, guest, host)
	}
	return filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("initramfs: extra file %s: %w", guest, err)
		}
		rel, err := filepath.Rel(host, p)
		if err != nil {
			return err
		}
		g := path.Join(guest, filepath.ToSlash(rel))
		if d.IsDir() {
			return cw.Dir(g)
		}
		return addHostFile(cw, g, p)
	})
}

func addHostFile(cw *cpioWriter, guest, host string) error {
	f, err := os.Open(host)
	if err != nil {
		return fmt.Errorf("initramfs: %s: %w", guest, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("initramfs: %s: %w", guest, err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("initramfs: %s: %s is not a regular file", guest, host)
	}
	if err := cw.File(guest, uint32(info.Mode().Perm()), info.Size(), f); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

// image is an initramfs ready to boot, shared by the kernels of one run.
type image struct {
	path string
	dir  string // temporary directory holding path
}

func newImage(opts Options) (*image, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	initPath, err := buildInit()
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	tmpRoot := filepath.Join(cacheDir(root), "tmp")
	if err := os.MkdirAll(tmpRoot, 0o755); err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	pruneStale(tmpRoot)
	dir, err := os.MkdirTemp(tmpRoot, "run-")
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	img := &image{path: filepath.Join(dir, "initramfs.cpio"), dir: dir}
	if err := writeInitramfs(img.path, initPath, opts.TestBinary, opts.ExtraFiles); err != nil {
		img.remove()
		return nil, err
	}
	return img, nil
}

func (img *image) remove() { os.RemoveAll(img.dir) }

// pruneStale removes initramfs directories left by runs that were killed
// before their cleanup (a test binary hitting its -timeout, say). A day is
// far longer than any run, so a live run's image is never touched.
func pruneStale(tmpRoot string) {
	entries, _ := os.ReadDir(tmpRoot)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			os.RemoveAll(filepath.Join(tmpRoot, e.Name()))
		}
	}
}
