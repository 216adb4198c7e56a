package vfsops

import (
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"
)

// Dirent is one directory entry. Type is the d_type (unix.DT_REG, DT_DIR,
// DT_LNK, ..., or DT_UNKNOWN when the filesystem does not say).
type Dirent struct {
	Name string
	Ino  uint64
	Type uint8
}

// ReadDirents reads raw linux_dirent64 records from the directory fd into
// buf; n == 0 means the end of the directory.
func ReadDirents(fd int, buf []byte) (int, error) {
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fdError("getdents", fd, err)
		}
		return n, nil
	}
}

// linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name.
const (
	direntInoOff    = 0
	direntReclenOff = 16
	direntTypeOff   = 18
	direntNameOff   = 19
)

// ParseDirents calls fn for each record in buf, as filled by ReadDirents,
// "." and ".." included. It stops at the first malformed record (a length
// that is too short or runs past buf) and reports it; it never panics,
// whatever buf holds.
func ParseDirents(buf []byte, fn func(name string, ino uint64, typ uint8)) error {
	for len(buf) > 0 {
		if len(buf) < direntNameOff {
			return errMalformedDirent
		}
		reclen := int(binary.NativeEndian.Uint16(buf[direntReclenOff:]))
		if reclen < direntNameOff || reclen > len(buf) {
			return errMalformedDirent
		}
		rec := buf[:reclen]
		buf = buf[reclen:]
		name := rec[direntNameOff:]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		if len(name) == 0 {
			return errMalformedDirent
		}
		fn(string(name), binary.NativeEndian.Uint64(rec[direntInoOff:]), rec[direntTypeOff])
	}
	return nil
}

var errMalformedDirent = errors.New("malformed linux_dirent64 record")

// ReadDir reads the rest of the directory fd (which needs to be open for
// reading, not O_PATH), leaving out "." and "..".
func ReadDir(fd int) ([]Dirent, error) {
	var out []Dirent
	buf := make([]byte, 8192)
	for {
		n, err := ReadDirents(fd, buf)
		if err != nil {
			return out, err
		}
		if n == 0 {
			return out, nil
		}
		err = ParseDirents(buf[:n], func(name string, ino uint64, typ uint8) {
			if name != "." && name != ".." {
				out = append(out, Dirent{Name: name, Ino: ino, Type: typ})
			}
		})
		if err != nil {
			return out, fdError("getdents", fd, err)
		}
	}
}
