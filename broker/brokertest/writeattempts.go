package brokertest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// WriteAttempt is one way a client might try to change f.txt beneath root
// through a capability: Try reports whether it got write access (the
// caller also checks the file itself; see Touched).
type WriteAttempt struct {
	Name string
	Try  func(t testing.TB, c Caller, root uint32) (changed bool)
}

func fdWritable(t testing.TB, fd int) bool {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	mode := fl & unix.O_ACCMODE
	return mode == unix.O_WRONLY || mode == unix.O_RDWR
}

// WriteAttempts returns every way the tests know to write to a file
// through a capability: open flags, claims of rights the flags need or the
// grant lacks, reopen, dup, the passed descriptor and write(2), truncate,
// chmod, chtimes, unlink, rename over, setxattr, opendir claiming more.
func WriteAttempts() []WriteAttempt {
	ok := func(rep wire.Reply) bool { return rep.Err == nil }
	// openFlags opens f.txt with flags, asking for its descriptor, and
	// then writes through the handle: changed if either gives write access.
	openFlags := func(name string, flags int, r rights.Rights) WriteAttempt {
		return WriteAttempt{name, func(t testing.TB, c Caller, root uint32) bool {
			rep, fd := c.Call(&wire.Request{Op: wire.OpOpen, Handle: root, Path: "f.txt", SysFlags: uint32(flags), Mode: 0o644, Pair: rights.Pair{Base: r}, Flags: wire.FlagWantFD})
			if fd >= 0 {
				defer unix.Close(fd)
				if fdWritable(t, fd) {
					return true
				}
			}
			if !ok(rep) {
				return false
			}
			wrep, _ := c.Call(&wire.Request{Op: wire.OpWrite, Handle: rep.NewHandle, Data: []byte("X")})
			return ok(wrep) || flags&unix.O_TRUNC != 0
		}}
	}
	// openRO opens f.txt in the widest mode the grant allows (read-write,
	// else read-only), claiming rights r on top of the mode's own.
	openRO := func(t testing.TB, c Caller, root uint32, r rights.Rights) (uint32, bool) {
		rep, _ := c.Call(&wire.Request{Op: wire.OpOpen, Handle: root, Path: "f.txt", SysFlags: unix.O_RDWR, Pair: rights.Pair{Base: r | rights.Read | rights.Write}})
		if rep.Err == nil {
			return rep.NewHandle, true
		}
		rep, _ = c.Call(&wire.Request{Op: wire.OpOpen, Handle: root, Path: "f.txt", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: r | rights.Read}})
		if rep.Err == nil {
			return rep.NewHandle, true
		}
		rep, _ = c.Call(&wire.Request{Op: wire.OpOpen, Handle: root, Path: "f.txt", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}})
		return rep.NewHandle, rep.Err == nil
	}
	return []WriteAttempt{
		openFlags("open O_WRONLY", unix.O_WRONLY, rights.Write),
		openFlags("open O_RDWR", unix.O_RDWR, rights.Read|rights.Write),
		openFlags("open O_WRONLY|O_APPEND", unix.O_WRONLY|unix.O_APPEND, rights.Append),
		openFlags("open O_RDONLY|O_TRUNC", unix.O_RDONLY|unix.O_TRUNC, rights.Read|rights.Truncate),
		{"open read-only claiming write rights, then reopen for writing", func(t testing.TB, c Caller, root uint32) bool {
			rep, _ := c.Call(&wire.Request{Op: wire.OpOpen, Handle: root, Path: "f.txt", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Lookup | rights.Read | rights.Write}})
			if rep.Err != nil {
				return false
			}
			rep, fd := c.Call(&wire.Request{Op: wire.OpReopen, Handle: rep.NewHandle, SysFlags: unix.O_WRONLY, Pair: rights.Pair{Base: rights.Write}, Flags: wire.FlagWantFD})
			if fd >= 0 {
				defer unix.Close(fd)
			}
			return ok(rep) && fd >= 0 && fdWritable(t, fd)
		}},
		{"reopen O_RDWR", func(t testing.TB, c Caller, root uint32) bool {
			h, opened := openRO(t, c, root, rights.Lookup)
			if !opened {
				return false
			}
			rep, fd := c.Call(&wire.Request{Op: wire.OpReopen, Handle: h, SysFlags: unix.O_RDWR, Pair: rights.Pair{Base: rights.Read | rights.Write}, Flags: wire.FlagWantFD})
			if fd >= 0 {
				defer unix.Close(fd)
				return fdWritable(t, fd)
			}
			return ok(rep)
		}},
		{"dup with write rights, then write", func(t testing.TB, c Caller, root uint32) bool {
			h, opened := openRO(t, c, root, rights.Read)
			if !opened {
				return false
			}
			rep, _ := c.Call(&wire.Request{Op: wire.OpDup, Handle: h, Pair: rights.Pair{Base: rights.Read | rights.Write}})
			if rep.Err != nil {
				return false
			}
			rep, _ = c.Call(&wire.Request{Op: wire.OpWrite, Handle: rep.NewHandle, Data: []byte("X")})
			return ok(rep)
		}},
		{"fd of a read-only open, then write(2)", func(t testing.TB, c Caller, root uint32) bool {
			h, opened := openRO(t, c, root, rights.Read)
			if !opened {
				return false
			}
			_, fd := c.Call(&wire.Request{Op: wire.OpFd, Handle: h})
			if fd < 0 {
				return false
			}
			defer unix.Close(fd)
			_, err := unix.Write(fd, []byte("X"))
			return err == nil || fdWritable(t, fd)
		}},
		{"truncate by path", func(t testing.TB, c Caller, root uint32) bool {
			rep, _ := c.Call(&wire.Request{Op: wire.OpTruncate, Handle: root, Path: "f.txt", Offset: 1})
			return ok(rep)
		}},
		{"ftruncate", func(t testing.TB, c Caller, root uint32) bool {
			h, opened := openRO(t, c, root, rights.Read|rights.Truncate)
			if !opened {
				return false
			}
			rep, _ := c.Call(&wire.Request{Op: wire.OpFtruncate, Handle: h, Offset: 1})
			return ok(rep)
		}},
		{"chmod", func(t testing.TB, c Caller, root uint32) bool {
			rep, _ := c.Call(&wire.Request{Op: wire.OpChmod, Handle: root, Path: "f.txt", Mode: 0o666})
			return ok(rep)
		}},
		{"fchmod", func(t testing.TB, c Caller, root uint32) bool {
			h, opened := openRO(t, c, root, rights.Read|rights.Chmod)
			if !opened {
				return false
			}
			rep, _ := c.Call(&wire.Request{Op: wire.OpFchmod, Handle: h, Mode: 0o666})
			return ok(rep)
		}},
		{"chtimes", func(t testing.TB, c Caller, root uint32) bool {
			rep, _ := c.Call(&wire.Request{Op: wire.OpChtimes, Handle: root, Path: "f.txt", Atime: wire.Timespec{Sec: 5}, Mtime: wire.Timespec{Sec: 5}, Follow: true})
			return ok(rep)
		}},
		{"unlink", func(t testing.TB, c Caller, root uint32) bool {
			rep, _ := c.Call(&wire.Request{Op: wire.OpUnlink, Handle: root, Path: "f.txt"})
			return ok(rep)
		}},
		{"rename over", func(t testing.TB, c Caller, root uint32) bool {
			rep, _ := c.Call(&wire.Request{Op: wire.OpRename, Handle: root, Path: "other.txt", Handle2: root, Path2: "f.txt"})
			return ok(rep)
		}},
		{"setxattr", func(t testing.TB, c Caller, root uint32) bool {
			h, opened := openRO(t, c, root, rights.Read|rights.XattrSet)
			if !opened {
				return false
			}
			rep, _ := c.Call(&wire.Request{Op: wire.OpXattrSet, Handle: h, Name: "user.x", Data: []byte("v")})
			return ok(rep) || rep.Err.Code != wire.CodeNotCapable
		}},
		{"opendir claiming more, then create", func(t testing.TB, c Caller, root uint32) bool {
			rep, _ := c.Call(&wire.Request{Op: wire.OpOpenDir, Handle: root, Path: ".", Pair: rights.Uniform(rights.ReadWrite)})
			if rep.Err != nil {
				return false
			}
			rep, _ = c.Call(&wire.Request{Op: wire.OpOpen, Handle: rep.NewHandle, Path: "f.txt", SysFlags: unix.O_WRONLY | unix.O_TRUNC, Pair: rights.Pair{Base: rights.Write | rights.Truncate}})
			return ok(rep)
		}},
	}
}

// PrepareWriteTree writes the files the attempts act on into dir and
// returns f.txt's stat for Touched.
func PrepareWriteTree(t testing.TB, dir string) unix.Stat_t {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other.txt"), []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "f.txt"), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// Touched reports whether f.txt in dir differs from before: gone, replaced,
// other bytes, mode or modification time.
func Touched(dir string, before unix.Stat_t) bool {
	file := filepath.Join(dir, "f.txt")
	var after unix.Stat_t
	if err := unix.Stat(file, &after); err != nil {
		return true
	}
	content, _ := os.ReadFile(file)
	return string(content) != "original" || after.Mode != before.Mode || after.Mtim != before.Mtim || after.Ino != before.Ino
}
