package bypass

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/capfd/capfd/rights"
)

// Grant is one capability the confined child holds: rights on a path.
type Grant struct {
	Path   string
	Rights rights.Pair
}

// Grants is what every backend confines the child to; all backends get the
// same list for the same Env.
type Grants []Grant

// Union is every right held on any object: what a per-process mechanism
// such as seccomp, which cannot tell paths apart, may allow at most.
func (g Grants) Union() rights.Rights {
	var r rights.Rights
	for _, x := range g {
		r |= x.Rights.Base | x.Rights.Inherit
	}
	return r
}

// Rights of the fixture. None carries chmod, chown, chtimes, xattr-set,
// create, mkdir, unlink, link, symlink or mount, so those are denied
// everywhere, and a backend may refuse them per process; only renamable/
// carries the rename rights.
var (
	grantedDirRights = rights.Pair{Base: rights.Lookup | rights.Readdir | rights.Stat, Inherit: rights.ReadOnly}
	outerRights      = rights.Pair{Base: rights.Lookup | rights.Readdir | rights.Stat | rights.Readlink | rights.RenameFrom | rights.RenameTo, Inherit: rwRights | rights.Readlink | rights.Lookup | rights.Create}
	renamableRights  = rights.Pair{Base: rights.Lookup | rights.Readdir | rights.Stat | rights.RenameFrom | rights.RenameTo, Inherit: rights.ReadOnly}
	rwRights         = rights.ReadOnly | rights.Write | rights.Truncate | rights.Sync
	appendRights     = rights.ReadOnly | rights.Append
	systemRights     = rights.Uniform(rights.ReadExec)
)

// Grants lists the fixture's capabilities, then read + exec on the system
// directories the helper binary and granted/prog need to be loaded (the
// dynamic loader, libc).
func (e *Env) Grants() Grants {
	g := Grants{
		{Path: e.Granted, Rights: grantedDirRights},
		{Path: e.Renamable, Rights: renamableRights},
		{Path: e.Outer, Rights: outerRights},
		{Path: e.Inner, Rights: rights.Uniform(rights.ReadOnly)},
		{Path: e.RO, Rights: rights.Uniform(rights.ReadOnly)},
		{Path: e.RW, Rights: rights.Uniform(rwRights)},
		{Path: e.AppendOnly, Rights: rights.Uniform(appendRights)},
		{Path: e.Prog, Rights: rights.Uniform(rights.ReadOnly)}, // no exec
		{Path: e.Bin, Rights: systemRights},
	}
	return append(g, systemGrants()...)
}

// systemGrants covers the loader and libraries: /usr and those top-level
// library directories that are not symlinks into it (merged /usr), plus the
// loader cache.
func systemGrants() Grants {
	var g Grants
	var seen []string
	for _, dir := range []string{"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"} {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			continue
		}
		covered := false
		for _, s := range seen {
			covered = covered || real == s || strings.HasPrefix(real, s+"/")
		}
		if covered {
			continue
		}
		seen = append(seen, real)
		g = append(g, Grant{Path: real, Rights: systemRights})
	}
	if _, err := os.Stat("/etc/ld.so.cache"); err == nil {
		g = append(g, Grant{Path: "/etc/ld.so.cache", Rights: rights.Uniform(rights.ReadOnly)})
	}
	return g
}
