package launch

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// startContained starts stage 2 with the best tree containment this
// process can have (treeContainment), falling back to the next when the
// kernel refuses a namespace, and warns when there is none.
//
// With view (kernel mode) each namespace comes with a mount namespace of
// its own, in which stage 2 builds the program's view.
func startContained(cmd *exec.Cmd, opts *Options, rl *relay, view bool) error {
	log := opts.log()
	var refused []string
	switch {
	case os.Getenv(NoNamespaceEnv) == "1":
		refused = append(refused, "disabled by "+NoNamespaceEnv+"=1")
	case opts.NoNamespace:
		refused = append(refused, "disabled by the launcher (Options.NoNamespace)")
	}
	for _, c := range containments(len(refused) > 0) {
		try := *cmd
		try.SysProcAttr = containmentAttrs(c)
		if view && c != containNone {
			try.SysProcAttr.Cloneflags |= unix.CLONE_NEWNS
			if c == containUserNS {
				// The capabilities the child has in its user
				// namespace end at exec (its uid is not 0
				// there); stage 2 needs CAP_SYS_ADMIN to build
				// the view and CAP_SETPCAP to drop them all
				// again (dropCapabilities).
				try.SysProcAttr.AmbientCaps = []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_SETPCAP}
			}
		}
		// A session of its own, so the program has no controlling
		// terminal: no ioctl on an inherited terminal descriptor can
		// reach the caller's session (TIOCSTI would need it as the
		// controlling terminal; job-control signals go nowhere).
		try.SysProcAttr.Setsid = !opts.Ambient.SameSession
		if rl != nil {
			// Its own terminal instead (pty_linux.go).
			try.SysProcAttr.Setctty, try.SysProcAttr.Ctty = true, rl.ctty
		}
		err := try.Start()
		if err != nil && c != containNone && namespaceRefused(err) {
			refused = append(refused, fmt.Sprintf("%v: %v", c, err))
			continue
		}
		if err != nil {
			return err
		}
		*cmd = try
		switch {
		case c == containNone:
			fmt.Fprintf(log, "capfd run: warning: no PID namespace (%s): if capfd run is killed outright, processes the program starts in the background may outlive it\n", strings.Join(refused, "; "))
		case opts.Verbose:
			fmt.Fprintf(log, "capfd run: the program tree runs in a %v\n", c)
		}
		return nil
	}
	return errors.New("no way to start the program") // containNone is always tried
}
