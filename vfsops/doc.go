// Package vfsops is the one place in capfd that makes filesystem system
// calls. Every other package asks vfsops, so that the rules below hold
// everywhere:
//
//   - Paths are resolved beneath a directory fd, never from the process's
//     root or working directory. On kernels with openat2(2) that is
//     RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS (plus the caller's [Resolve]
//     options); elsewhere a component-at-a-time walker with the same rules
//     (walk.go) takes over.
//   - Entry operations (mkdir, unlink, rename, ...) resolve the parent
//     directory beneath, then act on a single validated name with the *at
//     system call, so the kernel never walks a path we have not checked.
//   - O_PATH fds become open files only through [Reopen], which goes through
//     a private, verified procfs handle (procfs.go), never a "/proc/..."
//     string.
//   - The operation table ([Op], [Op.Requirements], [OpenRights]) says which
//     capability rights each operation needs, on which operand.
//
// vfsops does not check rights itself: callers (capfd, the broker) check
// the table first, then call the operation.
package vfsops
