// Package rights defines capfd's capability rights: a bitset naming every
// operation a handle may perform, in the style of Capsicum's cap_rights_t
// and WASI preview 1's rights.
//
// The bit positions are ABI. They travel in the broker's wire protocol and in
// the kernel layer's BPF maps, so a right keeps its bit forever and new
// rights are only ever appended.
package rights

import (
	"math/bits"
	"strings"
)

// Rights is a set of capability rights.
type Rights uint64

// The rights, in ABI order. Never reorder: append new rights at the end and
// extend the names table below.
const (
	Lookup     Rights = 1 << iota // resolve paths beneath a directory; O_PATH opens
	Read                          // read(2), pread(2), read-mode opens
	Write                         // write(2), pwrite(2), write-mode opens
	Append                        // O_APPEND writes: may add, never rewrite
	Seek                          // lseek(2); without it a file is a stream
	Stat                          // fstat, fstatat, statx
	Truncate                      // ftruncate, truncate, O_TRUNC
	Exec                          // execve, execveat
	Create                        // O_CREAT of a regular file
	Mkdir                         // mkdirat
	Unlink                        // unlinkat of files and directories
	RenameFrom                    // renameat: the source directory
	RenameTo                      // renameat: the target directory
	LinkFrom                      // linkat: the source
	LinkTo                        // linkat: the target directory
	Symlink                       // symlinkat
	Readlink                      // readlinkat
	Readdir                       // getdents64
	Chmod                         // fchmod, fchmodat
	Chown                         // fchown, fchownat
	Chtimes                       // utimensat
	XattrGet                      // getxattr, listxattr
	XattrSet                      // setxattr, removexattr
	Lock                          // flock, fcntl locks
	Sync                          // fsync, fdatasync
	MmapExec                      // mmap with PROT_EXEC
	Ioctl                         // ioctl(2)
	Mount                         // mount, open_tree, move_mount of the object
	Connect                       // connect(2) to a Unix socket: the socket file

	endOfRights // sentinel: keep last
)

// All is every right this build supports.
const All Rights = endOfRights - 1

// Groups of rights with names of their own. They are sugar for Parse and
// String; the ABI is the individual bits.
const (
	None Rights = 0

	// ReadOnly lets a holder look, never touch.
	ReadOnly = Lookup | Read | Seek | Stat | Readlink | Readdir | XattrGet | Lock

	// ReadExec adds exec and executable mappings, for programs and libraries.
	ReadExec = ReadOnly | Exec | MmapExec

	// ReadWrite adds changes to existing objects and to directory entries,
	// but not exec, chown, ioctl or mount, which stay explicit.
	ReadWrite = ReadOnly | Write | Append | Truncate | Create | Mkdir | Unlink |
		RenameFrom | RenameTo | LinkFrom | LinkTo | Symlink | Chmod | Chtimes |
		XattrSet | Sync
)

// names is indexed by bit position.
var names = [...]string{
	"lookup", "read", "write", "append", "seek", "stat", "truncate", "exec",
	"create", "mkdir", "unlink", "rename-from", "rename-to", "link-from",
	"link-to", "symlink", "readlink", "readdir", "chmod", "chown", "chtimes",
	"xattr-get", "xattr-set", "lock", "sync", "mmap-exec", "ioctl", "mount",
	"connect",
}

// groups are accepted by Parse. String prefers individual names, except that
// the full set formats as "all" and the empty set as "none".
var groups = map[string]Rights{
	"none": None,
	"all":  All,
	"ro":   ReadOnly,
	"rx":   ReadExec,
	"rw":   ReadWrite,
}

// Has reports whether r holds every right in need.
func (r Rights) Has(need Rights) bool { return r&need == need }

// Missing returns the rights in need that r lacks.
func (r Rights) Missing(need Rights) Rights { return need &^ r }

// Union returns the rights in r or o.
func (r Rights) Union(o Rights) Rights { return r | o }

// Intersect returns the rights in both r and o.
func (r Rights) Intersect(o Rights) Rights { return r & o }

// Without returns r less the rights in o.
func (r Rights) Without(o Rights) Rights { return r &^ o }

// Limit returns r restricted to ceiling. It can only remove rights, which is
// the whole point: attenuation is the one direction rights may move.
func (r Rights) Limit(ceiling Rights) Rights { return r & ceiling }

// Unknown returns the bits of r this build does not define.
func (r Rights) Unknown() Rights { return r &^ All }

// Count returns how many rights r holds.
func (r Rights) Count() int { return bits.OnesCount64(uint64(r)) }

// Names returns the names of the known rights in r, in bit order. Unknown
// bits are not named; see String.
func (r Rights) Names() []string {
	out := make([]string, 0, r.Count())
	for i, name := range names {
		if r&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return out
}

// String formats r as a comma-separated list of names, "all" or "none".
// Unknown bits are kept, as "0x" hex, so that formatting never loses
// information and String's output always parses back to r.
func (r Rights) String() string {
	switch r {
	case None:
		return "none"
	case All:
		return "all"
	}
	var b strings.Builder
	for _, name := range r.Names() {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name)
	}
	if u := r.Unknown(); u != 0 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString("0x")
		b.WriteString(strings.TrimLeft(hex64(uint64(u)), "0"))
	}
	return b.String()
}

func hex64(v uint64) string {
	const digits = "0123456789abcdef"
	var buf [16]byte
	for i := 15; i >= 0; i-- {
		buf[i] = digits[v&0xf]
		v >>= 4
	}
	return string(buf[:])
}

// ByName returns the single right with the given name.
func ByName(name string) (Rights, bool) {
	for i, n := range names {
		if n == name {
			return 1 << i, true
		}
	}
	return 0, false
}
