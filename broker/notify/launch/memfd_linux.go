package launch

import (
	"fmt"
	"os"
)

// memfdNoexec is the PID-namespaced sysctl (Linux 6.3) that decides
// whether memfds can be executed.
const memfdNoexec = "/proc/sys/vm/memfd_noexec"

// forbidExecutableMemfds makes every memfd of the program's PID namespace
// non-executable, for good (vm.memfd_noexec = 2: such memfds cannot be made
// executable, and a child namespace cannot lower it).
//
// Without it a program could read a file granted read-only, copy its bytes
// into a memfd and execveat that: Landlock's EXECUTE does not reach memfds
// (they live on an internal mount no rule can name), so exec would be
// limited to granted programs in name only. Stage 2, the init of the
// namespace, sets it before Landlock (which would refuse the write). It
// needs CAP_SYS_ADMIN over the namespace and write access to /proc/sys:
// root has both; in a user namespace made for an unprivileged launcher the
// file is not writable, and memfds stay executable there (docs/run.md).
func forbidExecutableMemfds() error {
	f, err := os.OpenFile(memfdNoexec, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("%s: %w (Linux 6.3+, and root, are needed)", memfdNoexec, err)
	}
	defer f.Close()
	if _, err := f.WriteString("2"); err != nil {
		return fmt.Errorf("%s: %w", memfdNoexec, err)
	}
	return nil
}
