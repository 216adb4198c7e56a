package capfd

import (
	"io"
	"io/fs"

	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// dirReader is the read state of a directory File: the entries of the last
// getdents64 batch not yet handed out.
type dirReader struct {
	buf     []byte
	pending []dirEntry
	eof     bool
}

const direntBufSize = 8 << 10

// ReadDir reads the directory's entries in directory order, like
// os.File.ReadDir: with n > 0 at most n entries, and io.EOF once there are
// none left; with n <= 0 all remaining entries and a nil error. "." and
// ".." are left out. An entry's Info stats it through f (it needs f's stat
// right and f still open).
func (f *File) ReadDir(n int) ([]fs.DirEntry, error) {
	var out []fs.DirEntry
	err := f.readDir(n, func(e dirEntry) { out = append(out, e) })
	if err == io.EOF && len(out) > 0 {
		err = nil
	}
	return out, err
}

// Readdirnames is ReadDir returning only names.
func (f *File) Readdirnames(n int) ([]string, error) {
	var out []string
	err := f.readDir(n, func(e dirEntry) { out = append(out, e.name) })
	if err == io.EOF && len(out) > 0 {
		err = nil
	}
	return out, err
}

func (f *File) readDir(n int, emit func(dirEntry)) error {
	if err := f.check("readdir", vfsops.OpReaddir); err != nil {
		return err
	}
	if err := f.use("readdir"); err != nil {
		return err
	}
	defer f.done()
	f.dirMu.Lock()
	defer f.dirMu.Unlock()
	if f.dir == nil {
		f.dir = &dirReader{}
	}
	d := f.dir
	count := 0
	for n <= 0 || count < n {
		if len(d.pending) == 0 {
			if d.eof {
				break
			}
			if err := f.fillDir(d); err != nil {
				return err
			}
			continue
		}
		emit(d.pending[0])
		d.pending = d.pending[1:]
		count++
	}
	if n > 0 && count == 0 {
		return io.EOF
	}
	return nil
}

// fillDir reads the next batch of entries. The caller holds f.dirMu.
func (f *File) fillDir(d *dirReader) error {
	if d.buf == nil {
		d.buf = make([]byte, direntBufSize)
	}
	nread, err := f.t.ReadDirents(f.h, d.buf)
	if err != nil {
		return pathError("readdir", f.name, err)
	}
	if nread <= 0 {
		d.eof = true
		return nil
	}
	d.pending = d.pending[:0]
	err = vfsops.ParseDirents(d.buf[:nread], func(name string, _ uint64, typ uint8) {
		if name == "." || name == ".." || name == "" {
			return
		}
		d.pending = append(d.pending, dirEntry{name: name, typ: direntType(typ), file: f})
	})
	if err != nil {
		return pathError("readdir", f.name, err)
	}
	return nil
}

// dirEntry is an fs.DirEntry. Its Info is an lstat of the entry, made
// through the File that read it or, for Dir.ReadDir, through the Dir and
// the path of the directory beneath it.
type dirEntry struct {
	name    string
	typ     fs.FileMode // ^0 when getdents64 did not say (DT_UNKNOWN)
	file    *File
	dir     *Dir
	dirPath string
}

const unknownType = ^fs.FileMode(0)

func (e dirEntry) Name() string { return e.name }

func (e dirEntry) IsDir() bool { return e.Type().IsDir() }

func (e dirEntry) Type() fs.FileMode {
	if e.typ != unknownType {
		return e.typ
	}
	// Some filesystems leave d_type unset: ask the inode.
	if info, err := e.Info(); err == nil {
		return info.Mode().Type()
	}
	return fs.ModeIrregular
}

func (e dirEntry) Info() (fs.FileInfo, error) {
	if e.dir != nil {
		info, err := e.dir.Lstat(e.dirPath + "/" + e.name)
		if err != nil {
			return nil, err
		}
		return info, nil
	}
	return e.file.lstatEntry(e.name)
}

func (e dirEntry) String() string { return fs.FormatDirEntry(e) }

// lstatEntry lstats an entry of the directory f, through f.
func (f *File) lstatEntry(name string) (fs.FileInfo, error) {
	st, err := f.statEntry("lstat", name, 0, false)
	if err != nil {
		return nil, err
	}
	return newFileInfo(name, &st), nil
}

// statEntry stats path beneath f, an open directory, resolving with extra
// added to f's options. The entry lies beneath f: f's rights are what it
// has there, so they must hold what a stat needs of both the directory
// and the object.
func (f *File) statEntry(opName, path string, extra Resolve, follow bool) (unix.Stat_t, error) {
	req := vfsops.Request{Op: vfsops.OpStat}
	n := req.On(vfsops.OnDir) | req.On(vfsops.OnObject)
	if !f.rights.Has(n) {
		return unix.Stat_t{}, notCapable(opName, path, n, f.rights)
	}
	if err := f.use(opName); err != nil {
		return unix.Stat_t{}, err
	}
	defer f.done()
	st, err := f.t.Stat(f.h, path, f.how|extra, follow)
	if err != nil {
		return st, pathError(opName, path, err)
	}
	return st, nil
}

func direntType(typ uint8) fs.FileMode {
	switch typ {
	case unix.DT_REG:
		return 0
	case unix.DT_DIR:
		return fs.ModeDir
	case unix.DT_LNK:
		return fs.ModeSymlink
	case unix.DT_FIFO:
		return fs.ModeNamedPipe
	case unix.DT_SOCK:
		return fs.ModeSocket
	case unix.DT_BLK:
		return fs.ModeDevice
	case unix.DT_CHR:
		return fs.ModeDevice | fs.ModeCharDevice
	}
	return unknownType
}
