package launch

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
)

// elfInterpreter returns the ELF interpreter (PT_INTERP: the dynamic
// loader, /lib64/ld-linux-x86-64.so.2 on x86-64) the kernel opens and
// executes to run the program at path, or "" when there is none: a static
// program, a script, not an ELF file.
func elfInterpreter(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		// The path and its NUL; far longer is not a path.
		data, err := io.ReadAll(io.LimitReader(p.Open(), unix.PathMax))
		if err != nil {
			return ""
		}
		return string(bytes.TrimRight(data, "\x00"))
	}
	return ""
}

// interpreterHint is what a refused exec of prog adds to its error when
// the ELF interpreter prog needs is not granted exec: the kernel opens the
// interpreter as an executable too (Landlock checks it like the program),
// so the program cannot start, and the error says only "permission
// denied". rightsAt gives the rights the grants give the object at a
// path. "" when prog has no interpreter or its grant has exec.
func interpreterHint(prog string, rightsAt func(abs string) (rights.Rights, bool)) string {
	interp := elfInterpreter(prog)
	if interp == "" || !filepath.IsAbs(interp) {
		return ""
	}
	real, err := filepath.EvalSymlinks(interp)
	if err != nil {
		real = interp
	}
	if r, ok := rightsAt(real); ok && r.Has(rights.Exec) {
		return ""
	}
	name := interp
	if real != interp {
		name += " (" + real + ")"
	}
	return fmt.Sprintf("%s needs its ELF interpreter %s, which is not granted exec: grant its directory, e.g. --grant %s=rx (the default profile grants the loader and the libraries)",
		filepath.Base(prog), name, filepath.Dir(real))
}

// execError is the message of a failed exec of path: the error, and the
// hint for an exec the kernel refused (EACCES) or could not complete for
// a missing interpreter (ENOENT).
func execError(path string, err error, hint string) string {
	msg := fmt.Sprintf("exec %s: %v", path, err)
	if hint != "" && (errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOENT)) {
		msg += ": " + hint
	}
	return msg
}
