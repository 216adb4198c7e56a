package capfd

import (
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/capfd/capfd/vfsops"

	"golang.org/x/sys/unix"
)

// ReadDir reads the directory name and returns its entries sorted by name,
// like os.ReadDir. Reading d's own entries (name ".") needs readdir in d's
// Base rights; any other directory is opened through d, so it needs read
// and readdir in d's Inherit rights.
func (d *Dir) ReadDir(name string) ([]fs.DirEntry, error) {
	var f *File
	var err error
	if namesSelf(name) {
		f, err = d.reopenSelf("readdir")
	} else {
		f, err = d.OpenFile(name, os.O_RDONLY|unix.O_DIRECTORY, 0)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The File is closed on return, so each entry's Info stats through d
	// instead, by its path beneath d (which needs d's stat right).
	var entries []fs.DirEntry
	err = f.readDir(-1, func(e dirEntry) {
		e.file, e.dir, e.dirPath = nil, d, name
		entries = append(entries, e)
	})
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, err
}

// ReadFile reads the whole file name, like os.ReadFile.
func (d *Dir) ReadFile(name string) ([]byte, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.readAll()
}

// namesSelf reports whether name is d itself without resolving anything:
// ".", "./", "./." and the like. A name with ".." is not, even when it
// cleans to ".": "a/.." is b when a -> b/c, and is for the resolver to
// walk.
func namesSelf(name string) bool {
	if name == "" || name[0] == '/' {
		return false
	}
	for _, c := range strings.Split(name, "/") {
		if c != "" && c != "." {
			return false
		}
	}
	return true
}

// WriteFile writes data to name, creating it with perm (before the umask)
// or truncating it, like os.WriteFile.
func (d *Dir) WriteFile(name string, data []byte, perm fs.FileMode) error {
	f, err := d.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readAll reads f to its end, sizing the buffer from fstat when f may stat.
func (f *File) readAll() ([]byte, error) {
	size := 512
	if f.rights.Has(need(vfsops.OpFstat, vfsops.OnHandle)) {
		if info, err := f.Stat(); err == nil && info.Mode().IsRegular() && info.Size() > 0 {
			size = int(info.Size()) + 1 // +1 so that EOF is seen without growing
		}
	}
	data := make([]byte, 0, size)
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return data, err
		}
		if len(data) == cap(data) {
			data = slices.Grow(data, len(data))
		}
	}
}
