package capfd

import (
	"io/fs"
	"path"

	"golang.org/x/sys/unix"
)

// FS returns d as an fs.FS (also fs.ReadFileFS, fs.ReadDirFS, fs.StatFS,
// fs.SubFS and fs.ReadLinkFS). Names follow io/fs rules: slash-separated,
// unrooted, no "." or ".." elements (fs.ValidPath); anything else fails
// with fs.ErrInvalid before reaching d. Every call goes through d's
// methods, so d's rights apply, and the FS is usable while d is open.
func (d *Dir) FS() fs.FS { return dirFS{d: d, prefix: "."} }

// dirFS serves d's tree below prefix. Sub makes a dirFS with a longer
// prefix rather than opening a new Dir, because an fs.FS has no Close and
// a Dir per Sub would leak its descriptor.
type dirFS struct {
	d      *Dir
	prefix string
}

var (
	_ fs.ReadFileFS = dirFS{}
	_ fs.ReadDirFS  = dirFS{}
	_ fs.StatFS     = dirFS{}
	_ fs.SubFS      = dirFS{}
	_ fs.ReadLinkFS = dirFS{}
)

// resolve checks name and returns the path beneath d.
func (fsys dirFS) resolve(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return path.Join(fsys.prefix, name), nil
}

// relabel gives an error the name the caller used, as io/fs asks, while
// keeping the cause (and so errors.Is and errors.As on it).
func relabel(op, name string, err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return &fs.PathError{Op: op, Path: name, Err: pe.Err}
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

func (fsys dirFS) Open(name string) (fs.File, error) {
	full, err := fsys.resolve("open", name)
	if err != nil {
		return nil, err
	}
	f, err := fsys.d.Open(full)
	if err != nil {
		return nil, relabel("open", name, err)
	}
	f.name = name
	return f, nil
}

func (fsys dirFS) ReadFile(name string) ([]byte, error) {
	full, err := fsys.resolve("readfile", name)
	if err != nil {
		return nil, err
	}
	data, err := fsys.d.ReadFile(full)
	if err != nil {
		return nil, relabel("readfile", name, err)
	}
	return data, nil
}

func (fsys dirFS) ReadDir(name string) ([]fs.DirEntry, error) {
	full, err := fsys.resolve("readdir", name)
	if err != nil {
		return nil, err
	}
	entries, err := fsys.d.ReadDir(full)
	if err != nil {
		return nil, relabel("readdir", name, err)
	}
	return entries, nil
}

func (fsys dirFS) Stat(name string) (fs.FileInfo, error) {
	full, err := fsys.resolve("stat", name)
	if err != nil {
		return nil, err
	}
	info, err := fsys.d.Stat(full)
	if err != nil {
		return nil, relabel("stat", name, err)
	}
	if name == "." {
		// d.Stat names the result after the last element of its path.
		return renamed{info, "."}, nil
	}
	return info, nil
}

func (fsys dirFS) Lstat(name string) (fs.FileInfo, error) {
	full, err := fsys.resolve("lstat", name)
	if err != nil {
		return nil, err
	}
	info, err := fsys.d.Lstat(full)
	if err != nil {
		return nil, relabel("lstat", name, err)
	}
	if name == "." {
		return renamed{info, "."}, nil
	}
	return info, nil
}

func (fsys dirFS) ReadLink(name string) (string, error) {
	full, err := fsys.resolve("readlink", name)
	if err != nil {
		return "", err
	}
	target, err := fsys.d.Readlink(full)
	if err != nil {
		return "", relabel("readlink", name, err)
	}
	return target, nil
}

func (fsys dirFS) Sub(dir string) (fs.FS, error) {
	full, err := fsys.resolve("sub", dir)
	if err != nil {
		return nil, err
	}
	if dir == "." {
		return fsys, nil
	}
	info, err := fsys.d.Stat(full)
	if err != nil {
		return nil, relabel("sub", dir, err)
	}
	if !info.IsDir() {
		return nil, &fs.PathError{Op: "sub", Path: dir, Err: unix.ENOTDIR}
	}
	return dirFS{d: fsys.d, prefix: full}, nil
}

type renamed struct {
	fs.FileInfo
	name string
}

func (r renamed) Name() string { return r.name }
