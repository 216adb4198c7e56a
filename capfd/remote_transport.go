package capfd

import (
	"fmt"
	"strings"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// remoteTransport is the transport of a Remote's handles: a handleID is the
// broker's handle number, and every method is one request. Dir and File
// have checked rights before calling it; the broker checks them again.
type remoteTransport struct{ r *Remote }

var _ transport = (*remoteTransport)(nil)

// maxData is the most payload bytes one message may carry for reads and
// writes, within the broker's message limit and the protocol's.
func (t *remoteTransport) maxData() int {
	return wire.MaxData(int(min(t.r.limits.MaxMessage, wire.MaxMessage)))
}

// do makes a call whose reply carries nothing the caller needs.
func (t *remoteTransport) do(req *wire.Request) error {
	res := t.r.call(req)
	defer res.release()
	return res.result(req.Op)
}

// newHandle makes a call that creates a handle.
// newHandle makes a call that creates a handle, and keeps the descriptor
// the broker passed with it, if any (direct I/O).
func (t *remoteTransport) newHandle(req *wire.Request) (handleID, error) {
	res := t.r.call(req)
	defer res.release()
	if err := res.result(req.Op); err != nil {
		return 0, err
	}
	h := handleID(res.rep.NewHandle)
	if res.fd >= 0 {
		t.r.mu.Lock()
		if old, ok := t.r.fds[h]; ok {
			closeIfValid(old) // a broker reusing a number: keep the new one
		}
		t.r.fds[h] = res.fd
		t.r.mu.Unlock()
		res.fd = -1
	}
	return h, nil
}

// wantFD is the flag that asks for a new file handle's descriptor along
// with the handle, when direct I/O is on.
func (t *remoteTransport) wantFD() wire.Flags {
	if t.r.directIO.Load() {
		return wire.FlagWantFD
	}
	return 0
}

// directFD returns h's descriptor when direct I/O is on and the broker
// passed one.
func (t *remoteTransport) directFD(h handleID) (int, bool) {
	if !t.r.directIO.Load() {
		return -1, false
	}
	t.r.mu.Lock()
	fd, ok := t.r.fds[h]
	t.r.mu.Unlock()
	return fd, ok
}

func (t *remoteTransport) Open(dir handleID, path string, flags int, mode uint32, how vfsops.Resolve, r rights.Rights) (handleID, error) {
	return t.newHandle(&wire.Request{Op: wire.OpOpen, Handle: uint32(dir), Path: path, SysFlags: uint32(flags), Mode: mode, Resolve: uint8(how), Pair: rights.Pair{Base: r}, Flags: t.wantFD()})
}

func (t *remoteTransport) OpenDir(dir handleID, path string, how vfsops.Resolve, r rights.Pair) (handleID, error) {
	return t.newHandle(&wire.Request{Op: wire.OpOpenDir, Handle: uint32(dir), Path: path, Resolve: uint8(how), Pair: r})
}

func (t *remoteTransport) Reopen(h handleID, flags int, r rights.Rights) (handleID, error) {
	return t.newHandle(&wire.Request{Op: wire.OpReopen, Handle: uint32(h), SysFlags: uint32(flags), Pair: rights.Pair{Base: r}, Flags: t.wantFD()})
}

func (t *remoteTransport) Dup(h handleID, r rights.Pair) (handleID, error) {
	return t.newHandle(&wire.Request{Op: wire.OpDup, Handle: uint32(h), Pair: r})
}

// Close releases the broker's handle without waiting for the answer: the
// broker handles closes in order, and a close of a handle the client owns
// cannot fail in a way the caller could act on.
func (t *remoteTransport) Close(h handleID) error {
	t.r.mu.Lock()
	if fd, ok := t.r.fds[h]; ok {
		closeIfValid(fd)
		delete(t.r.fds, h)
	}
	t.r.mu.Unlock()
	return t.r.post(&wire.Request{Op: wire.OpClose, Handle: uint32(h), Flags: wire.FlagNoReply})
}

// Fd asks the broker for h's descriptor once and keeps it until Close. The
// broker passes it only in an access mode h's rights allow, and never for
// O_PATH or append-only handles.
func (t *remoteTransport) Fd(h handleID) (int, error) {
	t.r.mu.Lock()
	fd, ok := t.r.fds[h]
	t.r.mu.Unlock()
	if ok {
		return fd, nil
	}
	res := t.r.call(&wire.Request{Op: wire.OpFd, Handle: uint32(h)})
	defer res.release()
	if err := res.result(wire.OpFd); err != nil {
		return -1, err
	}
	fd, res.fd = res.fd, -1
	t.r.mu.Lock()
	defer t.r.mu.Unlock()
	if old, ok := t.r.fds[h]; ok {
		// Another goroutine asked at the same time and won.
		unix.Close(fd)
		return old, nil
	}
	t.r.fds[h] = fd
	return fd, nil
}

func (t *remoteTransport) Mkdir(dir handleID, path string, mode uint32, how vfsops.Resolve) error {
	return t.do(&wire.Request{Op: wire.OpMkdir, Handle: uint32(dir), Path: path, Mode: mode, Resolve: uint8(how)})
}

func (t *remoteTransport) Unlink(dir handleID, path string, how vfsops.Resolve) error {
	return t.do(&wire.Request{Op: wire.OpUnlink, Handle: uint32(dir), Path: path, Resolve: uint8(how)})
}

func (t *remoteTransport) Rmdir(dir handleID, path string, how vfsops.Resolve) error {
	return t.do(&wire.Request{Op: wire.OpRmdir, Handle: uint32(dir), Path: path, Resolve: uint8(how)})
}

func (t *remoteTransport) Rename(oldDir handleID, oldPath string, newDir handleID, newPath string, flags uint, how vfsops.Resolve) error {
	return t.do(&wire.Request{Op: wire.OpRename, Handle: uint32(oldDir), Path: oldPath, Handle2: uint32(newDir), Path2: newPath, SysFlags: uint32(flags), Resolve: uint8(how)})
}

func (t *remoteTransport) Link(oldDir handleID, oldPath string, newDir handleID, newPath string, how vfsops.Resolve) error {
	return t.do(&wire.Request{Op: wire.OpLink, Handle: uint32(oldDir), Path: oldPath, Handle2: uint32(newDir), Path2: newPath, Resolve: uint8(how)})
}

func (t *remoteTransport) Symlink(target string, dir handleID, path string, how vfsops.Resolve) error {
	return t.do(&wire.Request{Op: wire.OpSymlink, Handle: uint32(dir), Path: path, Path2: target, Resolve: uint8(how)})
}

func (t *remoteTransport) Readlink(dir handleID, path string, how vfsops.Resolve) (string, error) {
	res := t.r.call(&wire.Request{Op: wire.OpReadlink, Handle: uint32(dir), Path: path, Resolve: uint8(how)})
	defer res.release()
	if err := res.result(wire.OpReadlink); err != nil {
		return "", err
	}
	return res.rep.Text, nil
}

func (t *remoteTransport) stat(req *wire.Request) (unix.Stat_t, error) {
	res := t.r.call(req)
	defer res.release()
	if err := res.result(req.Op); err != nil {
		return unix.Stat_t{}, err
	}
	return StatFromWire(&res.rep.Stat), nil
}

func (t *remoteTransport) Stat(dir handleID, path string, how vfsops.Resolve, follow bool) (unix.Stat_t, error) {
	return t.stat(&wire.Request{Op: wire.OpStat, Handle: uint32(dir), Path: path, Resolve: uint8(how), Follow: follow})
}

func (t *remoteTransport) Chmod(dir handleID, path string, mode uint32, how vfsops.Resolve) error {
	return t.do(&wire.Request{Op: wire.OpChmod, Handle: uint32(dir), Path: path, Mode: mode, Resolve: uint8(how)})
}

func (t *remoteTransport) Chown(dir handleID, path string, uid, gid int, how vfsops.Resolve, follow bool) error {
	return t.do(&wire.Request{Op: wire.OpChown, Handle: uint32(dir), Path: path, UID: int32(uid), GID: int32(gid), Resolve: uint8(how), Follow: follow})
}

func (t *remoteTransport) Chtimes(dir handleID, path string, atime, mtime unix.Timespec, how vfsops.Resolve, follow bool) error {
	return t.do(&wire.Request{Op: wire.OpChtimes, Handle: uint32(dir), Path: path, Atime: tsToWire(atime), Mtime: tsToWire(mtime), Resolve: uint8(how), Follow: follow})
}

func (t *remoteTransport) Truncate(dir handleID, path string, size int64, how vfsops.Resolve) error {
	return t.do(&wire.Request{Op: wire.OpTruncate, Handle: uint32(dir), Path: path, Offset: size, Resolve: uint8(how)})
}

func (t *remoteTransport) Fstat(h handleID) (unix.Stat_t, error) {
	if fd, ok := t.directFD(h); ok {
		return vfsops.Fstat(fd)
	}
	return t.stat(&wire.Request{Op: wire.OpFstat, Handle: uint32(h)})
}

func (t *remoteTransport) Ftruncate(h handleID, size int64) error {
	return t.do(&wire.Request{Op: wire.OpFtruncate, Handle: uint32(h), Offset: size})
}

func (t *remoteTransport) Fchmod(h handleID, mode uint32) error {
	return t.do(&wire.Request{Op: wire.OpFchmod, Handle: uint32(h), Mode: mode})
}

func (t *remoteTransport) Fchown(h handleID, uid, gid int) error {
	return t.do(&wire.Request{Op: wire.OpFchown, Handle: uint32(h), UID: int32(uid), GID: int32(gid)})
}

func (t *remoteTransport) Futimes(h handleID, atime, mtime unix.Timespec) error {
	return t.do(&wire.Request{Op: wire.OpFutimes, Handle: uint32(h), Atime: tsToWire(atime), Mtime: tsToWire(mtime)})
}

func (t *remoteTransport) Fsync(h handleID) error {
	return t.do(&wire.Request{Op: wire.OpSync, Handle: uint32(h)})
}

func (t *remoteTransport) Flock(h handleID, how int) error {
	return t.do(&wire.Request{Op: wire.OpLock, Handle: uint32(h), SysFlags: uint32(how)})
}

// readInto makes a read-like call and copies the reply's bytes into p.
func (t *remoteTransport) readInto(req *wire.Request, p []byte) (int, error) {
	req.Count = uint32(min(len(p), t.maxData()))
	res := t.r.call(req)
	defer res.release()
	if err := res.result(req.Op); err != nil {
		return 0, err
	}
	if len(res.rep.Data) > len(p) {
		return 0, fmt.Errorf("capfd: broker returned %d bytes for a %d-byte %v", len(res.rep.Data), len(p), req.Op)
	}
	return copy(p, res.rep.Data), nil
}

func (t *remoteTransport) Read(h handleID, p []byte) (int, error) {
	if fd, ok := t.directFD(h); ok {
		return vfsops.Read(fd, p)
	}
	return t.readInto(&wire.Request{Op: wire.OpRead, Handle: uint32(h)}, p)
}

func (t *remoteTransport) Pread(h handleID, p []byte, off int64) (int, error) {
	if fd, ok := t.directFD(h); ok {
		return vfsops.Pread(fd, p, off)
	}
	return t.readInto(&wire.Request{Op: wire.OpPread, Handle: uint32(h), Offset: off}, p)
}

func (t *remoteTransport) ReadDirents(h handleID, buf []byte) (int, error) {
	if fd, ok := t.directFD(h); ok {
		return vfsops.ReadDirents(fd, buf)
	}
	return t.readInto(&wire.Request{Op: wire.OpReaddir, Handle: uint32(h)}, buf)
}

// writeFrom sends at most one message's worth of p; File.Write and WriteAt
// loop over short writes.
func (t *remoteTransport) writeFrom(req *wire.Request, p []byte) (int, error) {
	req.Data = p[:min(len(p), t.maxData())]
	res := t.r.call(req)
	defer res.release()
	if err := res.result(req.Op); err != nil {
		return 0, err
	}
	if res.rep.Offset < 0 || res.rep.Offset > int64(len(req.Data)) {
		return 0, fmt.Errorf("capfd: broker wrote %d bytes of %d", res.rep.Offset, len(req.Data))
	}
	return int(res.rep.Offset), nil
}

func (t *remoteTransport) Write(h handleID, p []byte) (int, error) {
	if fd, ok := t.directFD(h); ok {
		return vfsops.Write(fd, p)
	}
	return t.writeFrom(&wire.Request{Op: wire.OpWrite, Handle: uint32(h)}, p)
}

func (t *remoteTransport) Pwrite(h handleID, p []byte, off int64) (int, error) {
	if fd, ok := t.directFD(h); ok {
		return vfsops.Pwrite(fd, p, off)
	}
	return t.writeFrom(&wire.Request{Op: wire.OpPwrite, Handle: uint32(h), Offset: off}, p)
}

func (t *remoteTransport) Seek(h handleID, off int64, whence int) (int64, error) {
	if fd, ok := t.directFD(h); ok {
		return vfsops.Seek(fd, off, whence)
	}
	res := t.r.call(&wire.Request{Op: wire.OpSeek, Handle: uint32(h), Offset: off, SysFlags: uint32(whence)})
	defer res.release()
	if err := res.result(wire.OpSeek); err != nil {
		return 0, err
	}
	return res.rep.Offset, nil
}

func (t *remoteTransport) Getxattr(h handleID, name string) ([]byte, error) {
	res := t.r.call(&wire.Request{Op: wire.OpXattrGet, Handle: uint32(h), Name: name})
	defer res.release()
	if err := res.result(wire.OpXattrGet); err != nil {
		return nil, err
	}
	return append([]byte(nil), res.rep.Data...), nil
}

func (t *remoteTransport) Setxattr(h handleID, name string, value []byte, flags int) error {
	return t.do(&wire.Request{Op: wire.OpXattrSet, Handle: uint32(h), Name: name, Data: value, SysFlags: uint32(flags)})
}

func (t *remoteTransport) Listxattr(h handleID) ([]string, error) {
	res := t.r.call(&wire.Request{Op: wire.OpXattrList, Handle: uint32(h)})
	defer res.release()
	if err := res.result(wire.OpXattrList); err != nil {
		return nil, err
	}
	return res.rep.Names, nil
}

// Exec asks the broker for a descriptor to execute (it checks the exec
// right) and runs execveat on it here.
func (t *remoteTransport) Exec(h handleID, argv, envv []string) error {
	res := t.r.call(&wire.Request{Op: wire.OpExec, Handle: uint32(h)})
	defer res.release()
	if err := res.result(wire.OpExec); err != nil {
		return err
	}
	return vfsops.Exec(res.fd, argv, envv)
}

func tsToWire(ts unix.Timespec) wire.Timespec { return wire.Timespec{Sec: ts.Sec, Nsec: ts.Nsec} }

func tsFromWire(ts wire.Timespec) unix.Timespec { return unix.Timespec{Sec: ts.Sec, Nsec: ts.Nsec} }

// StatToWire and StatFromWire convert between struct stat and the
// protocol's subset of it.
func StatToWire(st *unix.Stat_t) wire.Stat {
	return wire.Stat{
		Dev: st.Dev, Ino: st.Ino, Nlink: uint64(st.Nlink), Mode: st.Mode, UID: st.Uid, GID: st.Gid,
		Rdev: st.Rdev, Size: st.Size, Blksize: int64(st.Blksize), Blocks: st.Blocks,
		Atime: tsToWire(st.Atim), Mtime: tsToWire(st.Mtim), Ctime: tsToWire(st.Ctim),
	}
}

func StatFromWire(s *wire.Stat) unix.Stat_t {
	return unix.Stat_t{
		Dev: s.Dev, Ino: s.Ino, Nlink: s.Nlink, Mode: s.Mode, Uid: s.UID, Gid: s.GID,
		Rdev: s.Rdev, Size: s.Size, Blksize: s.Blksize, Blocks: s.Blocks,
		Atim: tsFromWire(s.Atime), Mtim: tsFromWire(s.Mtime), Ctim: tsFromWire(s.Ctime),
	}
}

func (t *remoteTransport) Removexattr(h handleID, name string) error {
	return t.do(&wire.Request{Op: wire.OpXattrRemove, Handle: uint32(h), Name: name})
}

// BindMount asks the broker to bind-mount h onto targetPath beneath
// targetDir. The broker checks mount on h and lookup|mount on targetDir,
// and the mount is made in the broker's mount namespace: the client sees
// it only if it shares that namespace.
func (t *remoteTransport) BindMount(h handleID, targetDir handleID, targetPath string, how vfsops.Resolve) error {
	req := &wire.Request{Op: wire.OpBindMount, Handle: uint32(h), Handle2: uint32(targetDir), Path: targetPath, Resolve: uint8(how)}
	res := t.r.call(req)
	defer res.release()
	err := res.result(req.Op)
	if er := res.rep.Err; err != nil && er != nil && er.Code == wire.CodeErrno && er.Message != err.Error() {
		// A plain errno loses the broker's reason (most often: the broker
		// itself lacks CAP_SYS_ADMIN); keep it, and the errno for errors.Is.
		return fmt.Errorf("broker: %s: %w", strings.TrimSuffix(er.Message, ": "+err.Error()), err)
	}
	return err
}
