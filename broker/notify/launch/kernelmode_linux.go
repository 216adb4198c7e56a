package launch

import (
	"fmt"
	"os"

	"github.com/capfd/capfd/broker/landlock"
	"github.com/capfd/capfd/broker/notify"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// kernelForms decides the mode before the program starts: nil for the
// brokered mode, else what the kernel answers. In ModeKernel a reason
// against kernel mode is an error; in ModeAuto it is said with Verbose.
func kernelForms(opts *Options, sup *notify.Supervisor) (*notify.KernelForms, error) {
	mode := opts.Mode
	if mode == "" {
		mode = ModeAuto
	}
	if mode == ModeBrokered {
		return nil, nil
	}
	brokered := func(why string) (*notify.KernelForms, error) {
		if mode == ModeKernel {
			return nil, fmt.Errorf("kernel mode: %s", why)
		}
		if opts.Verbose {
			fmt.Fprintf(opts.log(), "capfd run: brokered mode: %s\n", why)
		}
		return nil, nil
	}
	switch {
	case opts.Learn != nil:
		return brokered("learning sees every path request only when each is brokered")
	case opts.NoNamespace || os.Getenv(NoNamespaceEnv) == "1":
		return brokered("the view needs a mount and a PID namespace, and namespaces are disabled")
	}
	forms, notes, err := sup.KernelForms()
	if err != nil {
		return brokered(err.Error())
	}
	if _, err := landlock.Probe(); err != nil {
		return brokered("read-only opens are Landlock's in kernel mode, and Landlock is unavailable: " + err.Error())
	}
	if opts.Verbose {
		fmt.Fprintf(opts.log(), "capfd run: kernel mode: the kernel answers %v in the program's view\n", forms)
		for _, n := range notes {
			fmt.Fprintf(opts.log(), "capfd run: kernel mode: %s\n", n)
		}
	}
	return &forms, nil
}

// procGrant is the Landlock rule for the view's /proc in kernel mode: read,
// never write (writes are notified and decided by the /proc view).
var procGrant = landlock.Grant{Path: "/proc", Rights: rights.Uniform(rights.Lookup | rights.Read | rights.Readdir | rights.Stat | rights.Readlink)}

// stdioGrants are the Landlock rules that let the program re-open, read
// only, the files its standard descriptors read (`cat /dev/stdin < file`,
// a terminal), which lie outside the view and so outside every other rule:
// no more than the descriptors already give. Pipes and sockets need none.
func stdioGrants() []landlock.Grant {
	var out []landlock.Grant
	for fd := 0; fd <= 2; fd++ {
		if vfsops.ReadableFile(fd) {
			out = append(out, landlock.Grant{Path: fmt.Sprintf("standard descriptor %d", fd), Rights: rights.Uniform(rights.Read), Fd: fd, FromFd: true})
		}
	}
	return out
}

// enterView is stage 2's part of kernel mode, before Landlock: it checks
// that it runs in namespaces of its own (the launcher may have fallen back
// to none) and replaces its filesystem with the view. It returns false
// (brokered) where the namespaces are missing and the mode was auto.
func enterView(cfg *stage2Config) (bool, error) {
	brokered := func(why string) (bool, error) {
		if cfg.ModeRequired {
			return false, fmt.Errorf("kernel mode: %s", why)
		}
		if cfg.Verbose {
			fmt.Fprintf(os.Stderr, "capfd run: brokered mode: %s\n", why)
		}
		return false, nil
	}
	own, err := vfsops.MountNamespace()
	if err != nil || own == cfg.HostMountNS || os.Getpid() != 1 {
		return brokered("no mount and PID namespace of its own")
	}
	for fd := 0; fd <= 2; fd++ {
		if vfsops.IsDirFd(fd) {
			// A directory of the host's: lookups relative to it would
			// leave the view.
			return brokered(fmt.Sprintf("standard descriptor %d is a directory", fd))
		}
	}
	cwd, err := os.Getwd()
	if err != nil {
		cwd = "/"
	}
	paths := make([]string, len(cfg.Landlock))
	for i, g := range cfg.Landlock {
		paths[i] = g.Path
	}
	// The kernel opens the program's ELF interpreter by its name on exec.
	var links []string
	if interp := elfInterpreter(cfg.Path); interp != "" {
		links = append(links, interp)
	}
	if err := vfsops.BuildView(paths, links, cwd); err != nil {
		return false, fmt.Errorf("kernel mode: %w (--mode brokered runs without the view)", err)
	}
	return true, nil
}
