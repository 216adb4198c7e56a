package bypass

// The two halves of LandlockSeccomp, each run through the suite alone, so
// the gap tables show which layer stops what (docs/kernel-enforcement.md).

func init() {
	Register(landlockOnly{})
	Register(seccompOnly{})
}

type landlockOnly struct{ LandlockSeccomp }

func (landlockOnly) Name() string { return "landlock" }

func (landlockOnly) ConfineSelf(g Grants) error {
	return landlockOnlyConfine(g)
}

func (landlockOnly) Gaps() map[string]string {
	gaps := LandlockSeccomp{}.Gaps()
	for _, name := range []string{"chmod-readonly", "utimes-readonly", "setxattr-readonly", "fchmod-readonly-fd"} {
		gaps[name] = "Landlock does not mediate setattr or xattr changes"
	}
	return gaps
}

type seccompOnly struct{ LandlockSeccomp }

func (seccompOnly) Name() string { return "seccomp" }

func (seccompOnly) ConfineSelf(g Grants) error {
	_, err := seccompFilterFor(g).Install()
	return err
}

func (seccompOnly) Gaps() map[string]string {
	const paths = "seccomp sees syscall numbers, not paths or files: open, truncate and exec of one object cannot be told from another"
	gaps := map[string]string{}
	for _, name := range []string{
		"proc-fd-reopen-rdwr", "proc-fd-reopen-opath-write", "proc-fd-truncate",
		"exec-without-right", "execveat-empty-path", "exec-via-dynamic-loader",
		"proc-self-exe-write", "append-only-overwrite", "open-ungranted-sibling",
		"stat-ungranted-sibling", "grandchild-inherits",
		"rename-without-right", "rename-over-without-unlink",
		"nested-grant-via-symlink", "append-only-fcntl-clear", "chattr-readonly", "file-setattr-sibling",
		"memfd-exec-readonly", "nested-grant-after-rename", "base-below-inherit-via-dotdot",
	} {
		gaps[name] = paths
	}
	return gaps
}
