package wire

// field is one slot of a body. A body is the op's fields in the order of
// their bits, so the schema tables below are the whole body format.
type field uint32

// Request fields, in wire order.
const (
	rqVersions  field = 1 << iota // u8 min, u8 max
	rqRequested                   // u64 rights asked for in the handshake
	rqHandle2                     // u32 second directory handle (rename, link, bind-mount)
	rqPath                        // str
	rqPath2                       // str: new path (rename, link), target (symlink)
	rqFlags                       // u32: open/reopen flags, whence, flock how, xattr flags
	rqMode                        // u32
	rqResolve                     // u8: vfsops.Resolve bits
	rqFollow                      // bool
	rqOffset                      // i64: offset, size
	rqCount                       // u32: bytes or entries wanted
	rqOwner                       // i32 uid, i32 gid (-1 leaves one unchanged)
	rqTimes                       // atime, mtime as (i64 sec, i64 nsec)
	rqPair                        // u64 base, u64 inherit
	rqName                        // str: xattr name
	rqData                        // bytes
)

// Reply fields, in wire order.
const (
	rpHello  field = 1 << iota // u8 version, answer (3×u64), limits (3×u32)
	rpHandle                   // u32 new handle, u8 handle kind
	rpPair                     // u64 base, u64 inherit
	rpOffset                   // i64: new offset, bytes written
	rpStat                     // Stat
	rpData                     // bytes
	rpText                     // str
	rpNames                    // list of str
	rpRoots                    // list of Root
)

var requestSchema = map[Op]field{
	OpHello:       rqVersions | rqRequested,
	OpClose:       0,
	OpDup:         rqPair,
	OpOpen:        rqPath | rqFlags | rqMode | rqResolve | rqPair,
	OpReopen:      rqFlags | rqPair,
	OpOpenDir:     rqPath | rqResolve | rqPair,
	OpFd:          0,
	OpRead:        rqCount,
	OpPread:       rqOffset | rqCount,
	OpWrite:       rqData,
	OpPwrite:      rqOffset | rqData,
	OpSeek:        rqFlags | rqOffset,
	OpStat:        rqPath | rqResolve | rqFollow,
	OpFstat:       0,
	OpTruncate:    rqPath | rqResolve | rqOffset,
	OpFtruncate:   rqOffset,
	OpReaddir:     rqCount,
	OpMkdir:       rqPath | rqMode | rqResolve,
	OpUnlink:      rqPath | rqResolve,
	OpRmdir:       rqPath | rqResolve,
	OpRename:      rqHandle2 | rqPath | rqPath2 | rqFlags | rqResolve, // flags: renameat2's
	OpLink:        rqHandle2 | rqPath | rqPath2 | rqResolve,
	OpSymlink:     rqPath | rqPath2 | rqResolve,
	OpReadlink:    rqPath | rqResolve,
	OpChmod:       rqPath | rqMode | rqResolve,
	OpChown:       rqPath | rqResolve | rqFollow | rqOwner,
	OpChtimes:     rqPath | rqResolve | rqFollow | rqTimes,
	OpFchmod:      rqMode,
	OpFchown:      rqOwner,
	OpFutimes:     rqTimes,
	OpXattrGet:    rqName,
	OpXattrSet:    rqFlags | rqName | rqData,
	OpXattrList:   0,
	OpXattrRemove: rqName,
	OpSync:        0,
	OpLock:        rqFlags,
	OpExec:        0,
	OpBindMount:   rqHandle2 | rqPath | rqResolve, // no flags: open_tree/move_mount's are the broker's choice
}

var replySchema = map[Op]field{
	OpHello:       rpHello | rpRoots,
	OpClose:       0,
	OpDup:         rpHandle | rpPair,
	OpOpen:        rpHandle | rpPair,
	OpReopen:      rpHandle | rpPair,
	OpOpenDir:     rpHandle | rpPair,
	OpFd:          0,
	OpRead:        rpData,
	OpPread:       rpData,
	OpWrite:       rpOffset,
	OpPwrite:      rpOffset,
	OpSeek:        rpOffset,
	OpStat:        rpStat,
	OpFstat:       rpStat,
	OpTruncate:    0,
	OpFtruncate:   0,
	OpReaddir:     rpData, // raw linux_dirent64 records, as getdents64 wrote them
	OpMkdir:       0,
	OpUnlink:      0,
	OpRmdir:       0,
	OpRename:      0,
	OpLink:        0,
	OpSymlink:     0,
	OpReadlink:    rpText,
	OpChmod:       0,
	OpChown:       0,
	OpChtimes:     0,
	OpFchmod:      0,
	OpFchown:      0,
	OpFutimes:     0,
	OpXattrGet:    rpData,
	OpXattrSet:    0,
	OpXattrList:   rpNames,
	OpXattrRemove: 0,
	OpSync:        0,
	OpLock:        0,
	OpExec:        0,
	OpBindMount:   0,
}

// replyFDs says which replies carry a descriptor: always (Fd, Exec), or
// only when the request asked with FlagWantFD (Open, Reopen).
var replyFDs = map[Op]fdRule{
	OpOpen:   fdOnRequest,
	OpReopen: fdOnRequest,
	OpFd:     fdAlways,
	OpExec:   fdAlways,
}

type fdRule uint8

const (
	fdNever fdRule = iota
	fdOnRequest
	fdAlways
)
