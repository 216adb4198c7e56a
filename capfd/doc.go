// Package capfd provides capability handles for files and directories: a
// Dir or File is a descriptor plus the rights (package rights) it carries,
// in the style of Capsicum and WASI preview 1.
//
// A program opens its directories with OpenDir — the last ambient lookup it
// makes — and from then on reaches files only through them:
//
//	data, err := capfd.OpenDir("/srv/data", rights.Pair{
//		Base:    rights.MustParse("lookup,readdir,stat,create"),
//		Inherit: rights.MustParse("ro,write,append"),
//	})
//	f, err := data.OpenFile("log/today", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
//	_, err = data.Open("../../etc/passwd") // errors.Is(err, capfd.ErrEscape)
//	err = data.Remove("log/today")         // errors.Is(err, capfd.ErrNotCapable)
//
// # Resolution
//
// Every path is resolved beneath its Dir with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS) (package vfsops, which
// falls back to a component walk where openat2 is missing): "..", absolute
// paths and symlinks that would leave the directory fail with ErrEscape;
// /proc magic links are refused. NoXDev, NoSymlinks and InRoot narrow that
// further and are inherited by every Dir opened through a Dir.
//
// # Rights
//
// Each method checks, before any system call, what vfsops.Request says the
// operation needs on each object it touches: the handle itself, the
// directory a path's final entry is in (the source and target directories
// of Rename and Link), and the object the path names. A missing right
// gives an *Error matching ErrNotCapable, and the filesystem is untouched.
//
// A Dir has a rights.Pair: Base, what the Dir's own directory holds, and
// Inherit, what every object beneath it holds, at any depth. Rights follow
// the object, not the name (rights/pair.go): Remove("a") needs unlink in
// Base (a is an entry of the Dir's own directory), Remove("sub/a") unlink
// in Inherit (sub lies beneath), Stat("a") stat in Inherit (a lies
// beneath), Stat(".") stat in Base; "sub/.." and a symlink to "." reach
// the Dir's own directory and are decided as such. A path operation is so
// decided as if each directory on the way had been opened in turn, and as
// the kernel layers (BPF LSM, Landlock), which see objects and not names,
// decide it too. When Base and Inherit differ, a path whose name does not
// say where it leads (more than one component, or a followed symlink) is
// placed by identity first and acted on through the placed directory, as
// the broker does (docs/broker.md, "Rights follow the object"). This
// differs from WASI preview 1 and Capsicum, where a directory's own rights
// govern path operations at any depth.
//
//   - OpenFile needs what its flags need (vfsops.OpenRights) on the
//     object (Inherit, for anything beneath), and lookup (plus create,
//     for O_CREATE) on its directory. Asking for more fails with
//     ErrNotCapable; nothing is quietly narrowed.
//   - The File gets Inherit ∩ FileRights. The rights are the ceiling, the
//     access mode is what was opened: a File opened O_RDONLY through a
//     read-write Dir reads only, but File.Reopen may open it again for
//     writing. File.Limit drops rights before a File is passed on.
//   - OpenDir(name, r) needs both halves of r within Inherit, so along a
//     chain of OpenDir calls rights only narrow.
//   - Limit on a Dir or File returns a new handle with rights within the
//     old ones; asking for more fails. Rights never widen.
//   - Rename replaces an existing target only if the target Dir also holds
//     unlink; otherwise it is made with RENAME_NOREPLACE.
//
// # Transports
//
// A Dir or File talks to a transport (transport.go): the local one calls
// vfsops in this process; a remote one sends each call to a broker, which
// holds the real descriptors and checks the rights again on its side. The
// broker's served handle (broker.Served) is a thin adapter over local Dirs
// and Files: the variants of their methods it calls (serve.go, reached
// through internal/servebridge) are the code the methods themselves run,
// so a check is written once, whichever side makes it.
//
// # Nested Dirs: authority, not policy
//
// A program that holds a Dir for H with read-write rights and another for
// H/secret with read-only rights holds read-write authority over H/secret:
// H's Dir reaches it ("secret/key", a symlink to it, its new name after a
// rename) and writes it. That is deliberate, and it is Capsicum's rule: a
// capability is a descriptor plus rights, and one capability is never
// narrowed by another, narrower one its holder also has. Local Dirs are
// not placed against each other unless asked (Places), and nothing else
// compares them: a program that wants H/secret read-only passes on only
// the narrower Dir (or H's Limit).
//
// "H is read-write but H/secret is read-only" is a statement of policy
// about two grants, and it is enforced where a policy exists: by the
// broker for its clients' root handles and every handle opened through
// them (NewPlaces and Places.Place make Dirs placed against a set of
// grants: each path operation is checked with the rights of the directory
// it reaches, found by identity, and acts on that directory's descriptor
// with RESOLVE_NO_SYMLINKS; place.go, and docs/broker.md, "Rights follow
// the object"), and by the supervisor of capfd run (broker/notify). A
// program may place its own Dirs the same way.
//
// Base and inherit are different: they are one Dir's rights, and a Dir
// whose halves differ places its paths by identity (above), so OpenDir of
// a name that reaches its own directory again ("sub/..", or sub/up -> ..)
// is bounded by the Dir's own pair, never given Inherit as Base.
//
// # What the rights do not cover
//
// File.Fd hands out the raw descriptor, on which system calls are checked
// by the kernel's access mode only. In-process, code that holds a
// descriptor can also reopen it through /proc with wider access; that
// "upgrade" is what the broker and the kernel layer (broker/lsm) close.
// capfd handles are a discipline for code that uses them, not a sandbox
// for code that does not.
package capfd
