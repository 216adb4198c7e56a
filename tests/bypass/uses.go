package bypass

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Uses are the positive controls: what the grants DO allow, which every
// backend must still let through when confined. Without them a backend that
// refused everything would pass the attack catalogue. They share the Attack
// shape: Run returns nil when the use worked, effect verified.
func Uses() []Attack {
	return []Attack{
		{Name: "use-read-granted", Doc: "read a read-only file by path",
			Run: func(e *Env) error {
				b, err := os.ReadFile(e.RO)
				if err != nil {
					return err
				}
				if string(b) != roContent {
					return fmt.Errorf("%w: read %q", errNoEffect, b)
				}
				return nil
			}},
		{Name: "use-read-granted-fd", Doc: "read through the fd opened before confinement",
			Run: func(e *Env) error {
				buf := make([]byte, len(roContent))
				n, err := unix.Pread(e.ROFd, buf, 0)
				if err != nil {
					return err
				}
				if string(buf[:n]) != roContent {
					return fmt.Errorf("%w: read %q", errNoEffect, buf[:n])
				}
				return nil
			}},
		{Name: "use-write-granted", Doc: "overwrite the read-write file",
			Run: func(e *Env) error {
				if err := os.WriteFile(e.RW, []byte("rewritten\n"), 0); err != nil {
					return err
				}
				return contentStartsWith(e.RW, "rewritten")
			}},
		{Name: "use-truncate-granted", Doc: "truncate the read-write file by path",
			Run: func(e *Env) error {
				if err := unix.Truncate(e.RW, 3); err != nil {
					return err
				}
				var st unix.Stat_t
				if err := unix.Stat(e.RW, &st); err != nil || st.Size != 3 {
					return fmt.Errorf("%w: size %d (%v)", errNoEffect, st.Size, err)
				}
				return nil
			}},
		{Name: "use-append-granted", Doc: "append to the append-only file with O_APPEND",
			Run: func(e *Env) error {
				f, err := os.OpenFile(e.AppendOnly, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					return err
				}
				_, err = f.WriteString("log line 2\n")
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return err
				}
				b, err := os.ReadFile(e.AppendOnly)
				if err != nil || string(b) != "log line 1\nlog line 2\n" {
					return fmt.Errorf("%w: log is %q (%v)", errNoEffect, b, err)
				}
				return nil
			}},
		{Name: "use-readdir-granted", Doc: "list the granted directory",
			Run: func(e *Env) error {
				entries, err := os.ReadDir(e.Granted)
				if err != nil {
					return err
				}
				names := make([]string, len(entries))
				for i, d := range entries {
					names[i] = d.Name()
				}
				if !slices.Contains(names, "ro.txt") {
					return fmt.Errorf("%w: listing %s", errNoEffect, strings.Join(names, " "))
				}
				return nil
			}},
		{Name: "use-exec-granted", Doc: "exec a dynamically linked program granted read + exec",
			Run: func(e *Env) error { return runQuiet(exec.Command(e.True)) }},
	}
}
