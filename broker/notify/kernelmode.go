package notify

import (
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker/seccomp"
	"github.com/capfd/capfd/rights"
)

// Kernel mode.
//
// In the brokered mode every path syscall is a round trip to the
// supervisor, because seccomp cannot read the path: a stat left to the
// kernel would resolve the program's string against the whole filesystem.
// Kernel mode takes that reason away instead of the check. The program
// runs in a mount namespace whose root is the view (vfsops.BuildView): the
// grants bind-mounted at their own paths, the directories above them, a
// procfs of its PID namespace, nothing else. A name outside the grants does
// not exist for the kernel either, so the kernel resolves it to a granted
// object or to ENOENT, as the supervisor would; there is no string to race,
// since the lookup and the use are one kernel operation.
//
// What remains is the decision on the object reached, and the filter
// leaves a syscall to the kernel only where the kernel's decision is the
// rights model's for every grant (KernelForms):
//
//   - O_PATH opens, chdir, and access(F_OK) need lookup only (the rights
//     model: vfsops.OpenRightsOn, the chdir and access handlers), which
//     every grant must carry for kernel mode at all: the kernel has no
//     lookup right, so a grant without it cannot be enforced there;
//   - stat, lstat, newfstatat and statx need lookup and stat, so they are
//     native only when every grant carries stat (Landlock cannot refuse a
//     stat);
//   - readlink and readlinkat likewise with readlink;
//   - opens in read mode without O_CREAT, O_TRUNC or O_TMPFILE need read
//     (a file) or readdir (a directory), which Landlock decides
//     (READ_FILE, READ_DIR). Landlock's decision must be exactly the
//     model's for kernel mode at all: a directory grant's READ_DIR covers
//     the directory and its subdirectories alike, so Base and Inherit must
//     agree on readdir, and Landlock rules add up down the tree, so a
//     nested grant must not be narrower in read or readdir than the grant
//     around it. They cannot be left to the supervisor instead: a
//     directory it opens lies on the host's mounts, where ".." leads out
//     of the view, and the native lookups relative to it would follow.
//     For the same reason openat2, whose flags seccomp cannot read, fails
//     with ENOSYS (libcs fall back to openat), and no notified open can
//     yield a directory (O_CREAT, O_TRUNC and the write modes refuse one
//     with EISDIR). Stage 2 runs brokered when Landlock is not in force.
//
// Everything else (writes, creation, truncation, removal, renames, links,
// attributes, sockets, opens in write mode, openat2, whose flags seccomp
// cannot read) is notified and answered as in the brokered mode, on the
// host's names, which are the view's: the supervisor's lookups and the
// kernel's reach the same objects.
//
// No O_PATH stand-in (standin_linux.go) is made in kernel mode, since
// every O_PATH open is the kernel's, so the native fstat of a descriptor
// always describes its object.
//
// The price: the kernel's refusals are not the supervisor's, so they are
// not reported (only counted ones the supervisor sees), and the /proc of
// the view is the PID namespace's own procfs (subset=pid), which is wider
// than the brokered /proc view (procview_linux.go): the program may read
// every file of its own processes, mountinfo included (the view's mounts),
// and re-open a descriptor read-only through /proc/self/fd/N when Landlock
// allows reading its object. Writing through those names is still
// notified and refused. docs/run.md lists the differences.

// KernelForms are the path syscall families the kernel answers itself in
// kernel mode. Read-only and O_PATH opens, chdir and access(F_OK) are
// always among them.
type KernelForms struct {
	Stat     bool `json:"stat"`     // stat, lstat, newfstatat, statx
	Readlink bool `json:"readlink"` // readlink, readlinkat
}

// String lists the families the kernel answers.
func (k KernelForms) String() string {
	on := []string{"read-only and O_PATH opens", "chdir", "access(F_OK)"}
	if k.Stat {
		on = append(on, "stat")
	}
	if k.Readlink {
		on = append(on, "readlink")
	}
	return strings.Join(on, ", ")
}

// KernelForms says which path syscall families the kernel can answer
// exactly as the rights model does for these grants (see the comment
// above), and why the others cannot be (notes, one per family left to
// the supervisor). err is set when kernel mode is impossible for them.
func (s *Supervisor) KernelForms() (forms KernelForms, notes []string, err error) {
	return s.grants.kernelForms()
}

func (t *grantTable) kernelForms() (KernelForms, []string, error) {
	var existing []*grant
	for _, g := range t.grants {
		if g.Learn {
			return KernelForms{}, nil, fmt.Errorf("learning needs every path request brokered")
		}
		if g.fd >= 0 {
			existing = append(existing, g)
		}
	}
	for _, g := range t.grants {
		if g.fd >= 0 {
			continue
		}
		for _, a := range existing {
			if a.isDir && a.covers(path.Clean(g.Path)) {
				// Created later through a, it would show in the view
				// with a's rights, which the model gives it not.
				return KernelForms{}, nil, fmt.Errorf("grant %s is missing and lies inside grant %s", g.Path, a.Path)
			}
		}
	}
	// hasAll reports whether every grant carries r on itself and, for a
	// directory, on what lies beneath.
	hasAll := func(r rights.Rights) (string, bool) {
		for _, g := range existing {
			if !g.Rights.Base.Has(r) || g.isDir && !g.Rights.Inherit.Has(r) {
				return g.Path, false
			}
		}
		return "", true
	}
	if p, ok := hasAll(rights.Lookup); !ok {
		return KernelForms{}, nil, fmt.Errorf("grant %s lacks lookup, which the kernel cannot refuse", p)
	}
	var k KernelForms
	var notes []string
	if p, ok := hasAll(rights.Stat); ok {
		k.Stat = true
	} else {
		notes = append(notes, fmt.Sprintf("stat is brokered: grant %s lacks stat", p))
	}
	if p, ok := hasAll(rights.Readlink); ok {
		k.Readlink = true
	} else {
		notes = append(notes, fmt.Sprintf("readlink is brokered: grant %s lacks readlink", p))
	}
	if why := readDecidedByLandlock(existing); why != "" {
		// A directory the supervisor opens lies on the host's mounts,
		// where ".." leads out of the view: native lookups relative to
		// it would too. So every read-only open is the kernel's, in the
		// view, or none is.
		return KernelForms{}, nil, fmt.Errorf("read-only opens cannot be the kernel's: %s", why)
	}
	return k, notes, nil
}

// readDecidedByLandlock returns "" when Landlock's READ_FILE and READ_DIR
// decisions (broker/landlock: accessForGrant) are the rights model's for
// every object under these grants, else why not.
func readDecidedByLandlock(grants []*grant) string {
	for _, g := range grants {
		if g.isDir && !LandlockReaddirExact(g.Rights) {
			return fmt.Sprintf("grant %s gives readdir to the directory or to what is beneath it but not both, and a Landlock rule covers both alike", g.Path)
		}
		for _, a := range grants {
			if a != g && a.isDir && a.coversGrant(g) && !LandlockNestedReadExact(a.Rights, g.Rights, g.isDir) {
				return fmt.Sprintf("grant %s is narrower than grant %s around it, and Landlock rules add up down the tree", g.Path, a.Path)
			}
		}
	}
	return ""
}

// LandlockReaddirExact reports whether a Landlock rule for a directory grant
// p decides readdir as the model does: its READ_DIR covers the directory
// and its subdirectories alike, so p's Base and Inherit must agree.
func LandlockReaddirExact(p rights.Pair) bool {
	return p.Base.Has(rights.Readdir) == p.Inherit.Has(rights.Readdir)
}

// LandlockNestedReadExact reports whether, for a grant inner (a directory
// when innerIsDir) inside the directory grant outer, Landlock still decides
// read and readdir as the model does, which gives inner's objects inner's
// rights alone: Landlock adds outer's rule (READ_FILE from its Inherit,
// READ_DIR from Base and Inherit), so outer may give no read or readdir
// that inner lacks.
func LandlockNestedReadExact(outer, inner rights.Pair, innerIsDir bool) bool {
	innerRead, innerDir := inner.Inherit.Has(rights.Read), inner.Base.Has(rights.Readdir)
	if !innerIsDir {
		innerRead = inner.Base.Has(rights.Read)
	}
	outerRead, outerDir := outer.Inherit.Has(rights.Read), (outer.Base | outer.Inherit).Has(rights.Readdir)
	return !(outerRead && !innerRead || innerIsDir && outerDir && !innerDir)
}

// covers reports whether the clean absolute path p is g or beneath it by
// one of g's names.
func (g *grant) covers(p string) bool {
	for _, name := range g.names {
		if p == name || name == "/" || strings.HasPrefix(p, name+"/") {
			return true
		}
	}
	return false
}

// coversGrant reports whether grant h lies inside g (by any of their names).
func (g *grant) coversGrant(h *grant) bool {
	for _, n := range h.names {
		if g.covers(n) {
			return true
		}
	}
	return false
}

// notReadOnlyOpen are the open flags that need more than read (or readdir):
// the write access modes (and 3, ioctl only, which has both bits), creation,
// truncation and O_TMPFILE. O_APPEND is not among them: in read mode it
// needs read as the mode does (vfsops.OpenRightsOn), and notified it would
// let the supervisor open a directory for the program.
const notReadOnlyOpen = unix.O_WRONLY | unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC |
	(unix.O_TMPFILE &^ unix.O_DIRECTORY)

// kernelRules are the filter's rules for kernel mode, placed before its
// Notify rule: the calls they match run natively, in the view.
func kernelRules(k *KernelForms) []seccomp.Rule {
	if k == nil {
		return nil
	}
	allow := func(name string, args ...seccomp.ArgMatch) seccomp.Rule {
		return seccomp.Rule{Syscalls: []string{name}, Args: args, Action: seccomp.Allow}
	}
	// open(path, flags) and openat(dirfd, path, flags): flags are
	// argument 1 and 2. With O_PATH the kernel ignores every other flag
	// but O_DIRECTORY, O_NOFOLLOW and O_CLOEXEC.
	rules := []seccomp.Rule{
		allow("open", seccomp.ArgMatch{Index: 1, Op: seccomp.ArgAnyBit, Value: unix.O_PATH}),
		allow("openat", seccomp.ArgMatch{Index: 2, Op: seccomp.ArgAnyBit, Value: unix.O_PATH}),
		allow("open", seccomp.ArgMatch{Index: 1, Op: seccomp.ArgNoBit, Value: notReadOnlyOpen}),
		allow("openat", seccomp.ArgMatch{Index: 2, Op: seccomp.ArgNoBit, Value: notReadOnlyOpen}),
		allow("chdir"),
		allow("access", seccomp.ArgMatch{Index: 1, Value: unix.F_OK}),
		allow("faccessat", seccomp.ArgMatch{Index: 2, Value: unix.F_OK}),
		allow("faccessat2", seccomp.ArgMatch{Index: 2, Value: unix.F_OK}),
		// openat2's flags are in memory seccomp cannot read, so it would
		// be the supervisor's, and a directory it opens lies on the
		// host's mounts (see kernelForms): ENOSYS, as on a kernel before
		// 5.6, and libcs and runtimes fall back to openat.
		{Syscalls: []string{"openat2"}, Action: seccomp.Errno(unix.ENOSYS)},
	}
	if k.Stat {
		rules = append(rules, seccomp.Rule{Syscalls: []string{"stat", "lstat", "newfstatat", "statx"}, Action: seccomp.Allow})
	}
	if k.Readlink {
		rules = append(rules, seccomp.Rule{Syscalls: []string{"readlink", "readlinkat"}, Action: seccomp.Allow})
	}
	return rules
}
