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

// fdRule says which replies of an op carry a descriptor.
type fdRule uint8

const (
	fdNever     fdRule = iota
	fdOnRequest        // only when the request asked with FlagWantFD
	fdAlways
)
