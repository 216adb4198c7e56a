package vmtest

import (
	"fmt"
	"io"
	"path"
	"strings"
)

// cpioWriter writes the "newc" cpio format (magic 070701), the only one the
// kernel's initramfs unpacker accepts. It writes what an initramfs needs and
// no more: directories, regular files and device nodes. Parent directories are
// emitted on first use, because the kernel creates entries in archive order and
// cannot create a file in a directory it has not seen yet.
type cpioWriter struct {
	w    io.Writer
	ino  uint32
	dirs map[string]bool
}

const (
	cpioModeDir  = 0o040000
	cpioModeFile = 0o100000
	cpioModeChar = 0o020000
	cpioTrailer  = "TRAILER!!!"
)

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: w, dirs: map[string]bool{".": true}}
}

// cleanName turns a guest path into an archive name: relative, no "..", no
// empty components, so the unpacker cannot be steered outside the root; and
// no NUL, which would end the name early in the kernel's unpacker.
func cleanName(name string) (string, error) {
	clean := strings.TrimPrefix(path.Clean("/"+name), "/")
	if clean == "" || clean != strings.TrimPrefix(name, "/") || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("cpio: invalid guest path %q", name)
	}
	return clean, nil
}

// header writes one entry header and its name; the data (size bytes) follows.
func (c *cpioWriter) header(name string, mode uint32, size int64, rdevMajor, rdevMinor uint32) error {
	if size < 0 || size > 0xffffffff {
		return fmt.Errorf("cpio: %s: size %d does not fit newc's 32-bit field", name, size)
	}
	c.ino++
	nlink := uint32(1)
	if mode&0o170000 == cpioModeDir {
		nlink = 2
	}
	// ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	// Header plus NUL-terminated name is padded to a multiple of 4.
	_, err := io.WriteString(c.w, hdr+name+"\x00"+strings.Repeat("\x00", pad4(len(hdr)+len(name)+1)))
	return err
}

func pad4(n int) int { return (4 - n%4) % 4 }

// mkdirAll emits every missing ancestor directory of name, then name's own
// directory entry if isDir.
func (c *cpioWriter) mkdirAll(dir string) error {
	if c.dirs[dir] {
		return nil
	}
	if err := c.mkdirAll(path.Dir(dir)); err != nil {
		return err
	}
	c.dirs[dir] = true
	return c.header(dir, cpioModeDir|0o755, 0, 0, 0)
}

// Dir adds a directory (and its parents).
func (c *cpioWriter) Dir(name string) error {
	clean, err := cleanName(name)
	if err != nil {
		return err
	}
	return c.mkdirAll(clean)
}

// File adds a regular file of size bytes read from r.
func (c *cpioWriter) File(name string, perm uint32, size int64, r io.Reader) error {
	clean, err := cleanName(name)
	if err != nil {
		return err
	}
	if err := c.mkdirAll(path.Dir(clean)); err != nil {
		return err
	}
	if err := c.header(clean, cpioModeFile|perm&0o7777, size, 0, 0); err != nil {
		return err
	}
	n, err := io.CopyN(c.w, r, size)
	if err != nil {
		return fmt.Errorf("cpio: %s: copied %d of %d bytes: %w", clean, n, size, err)
	}
	_, err = c.w.Write(make([]byte, pad4(int(size%4))))
	return err
}

// CharDev adds a character device node, such as dev/console, which the kernel
// opens as init's stdio before devtmpfs is mounted.
func (c *cpioWriter) CharDev(name string, perm, major, minor uint32) error {
	clean, err := cleanName(name)
	if err != nil {
		return err
	}
	if err := c.mkdirAll(path.Dir(clean)); err != nil {
		return err
	}
	return c.header(clean, cpioModeChar|perm&0o7777, 0, major, minor)
}

// Close writes the trailer entry. It does not close the underlying writer.
func (c *cpioWriter) Close() error {
	return c.header(cpioTrailer, 0, 0, 0, 0)
}
