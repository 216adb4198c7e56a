package vmtest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"
)

// EnvCmdline adds words to the guest kernel command line (host side).
const EnvCmdline = "CAPFD_VM_CMDLINE"

// EnvInVM is set to "1" in the environment of the test binary inside the VM.
const EnvInVM = "CAPFD_IN_VM"

// KernelLSMs is the lsm= list every guest boots with. "bpf" must be in it:
// without it BPF LSM programs load and attach but never run.
const KernelLSMs = "landlock,lockdown,yama,bpf"

// DefaultTimeout bounds one boot-and-test when Options.Timeout is zero. TCG
// on a shared two-core machine is slow; a hang still ends.
const DefaultTimeout = 5 * time.Minute

// Options describe one run of a test binary in a VM.
type Options struct {
	// TestBinary is a static linux/amd64 executable, usually from
	// BuildTestBinary. It runs as /vmtest/test.
	TestBinary string
	// Args are passed to the test binary, e.g. "-test.v", "-test.run=^TestX$".
	// They travel on the kernel command line, so they may not contain white
	// space or quotes, and the whole command line is limited to 2 KiB.
	Args []string
	// Env adds KEY=VALUE pairs to the test binary's environment (same
	// character limits as Args). EnvInVM=1 is always set.
	Env []string
	// ExtraFiles maps absolute guest paths to host files or directories,
	// copied into the initramfs.
	ExtraFiles map[string]string
	// Dir is the test binary's working directory in the guest; "/" if empty.
	Dir string
	// Timeout bounds the whole run; DefaultTimeout if zero.
	Timeout time.Duration
	// Console, if set, receives the guest console output as it arrives.
	Console io.Writer
}

// Result is what a run produced.
type Result struct {
	// Output is the guest console: kernel warnings, init messages and the
	// test binary's stdout and stderr, with the markers of init included.
	Output string
	// ExitCode is the test binary's exit status (128+signal if killed, 125
	// if init could not start it). -1 if no exit marker was seen.
	ExitCode int
	// BootTime runs from starting qemu until init is about to start the test
	// binary; RunTime from there until the exit marker.
	BootTime, RunTime time.Duration
}

// ErrNoExitStatus means the guest ended without init's exit marker: the
// kernel panicked, init crashed, or the VM was killed. qemu's own exit status
// cannot say, since it is 0 on any guest power-off or reset.
var ErrNoExitStatus = errors.New("guest ended without an exit marker")

// validate reports options that cannot work, before anything is built.
func (opts Options) validate() error {
	if opts.TestBinary == "" {
		return errors.New("vmtest: Options.TestBinary is empty")
	}
	for g := range opts.ExtraFiles {
		if !path.IsAbs(g) || path.Clean(g) != g || g == guestInit || g == guestTest {
			return fmt.Errorf("vmtest: ExtraFiles key %q: guest path must be absolute, clean, and not %s or %s", g, guestInit, guestTest)
		}
	}
	_, err := cmdline(strings.Repeat("0", 16), opts)
	return err
}

// maxCmdline is x86's COMMAND_LINE_SIZE minus the terminating NUL.
const maxCmdline = 2047

// cmdline builds the kernel command line. vmtest.* words are read by init
// from /proc/cmdline; words after "--" become init's arguments, which init
// passes on to the test binary.
func cmdline(nonce string, opts Options) (string, error) {
	words := []string{
		"console=ttyS0",
		"panic=-1",          // reboot at once on panic; -no-reboot turns that into exit
		"oops=panic",        // an oops in a test is a failure, not a hang
		"quiet",             // only warnings and worse on the console
		"lsm=" + KernelLSMs, // bpf must be listed for BPF LSM programs to run
		"vmtest.nonce=" + nonce,
	}
	// Extra kernel parameters for debugging, e.g. CAPFD_VM_CMDLINE=loglevel=7
	// to see the whole boot log instead of warnings only.
	for _, w := range strings.Fields(os.Getenv(EnvCmdline)) {
		if err := checkWord(EnvCmdline, w); err != nil {
			return "", err
		}
		words = append(words, w)
	}
	if opts.Dir != "" {
		if err := checkWord("Dir", opts.Dir); err != nil {
			return "", err
		}
		words = append(words, "vmtest.dir="+opts.Dir)
	}
	for _, e := range opts.Env {
		if err := checkWord("Env", e); err != nil {
			return "", err
		}
		if !strings.Contains(e, "=") {
			return "", fmt.Errorf("vmtest: Env entry %q is not KEY=VALUE", e)
		}
		words = append(words, "vmtest.env="+e)
	}
	words = append(words, "--")
	for _, a := range opts.Args {
		if err := checkWord("Args", a); err != nil {
			return "", err
		}
		words = append(words, a)
	}
	line := strings.Join(words, " ")
	if len(line) > maxCmdline {
		return "", fmt.Errorf("vmtest: kernel command line is %d bytes, the limit is %d", len(line), maxCmdline)
	}
	return line, nil
}

// checkWord rejects what the kernel's command-line parser would split or
// unquote, so the guest sees exactly the words the caller passed.
func checkWord(field, w string) error {
	if w == "" {
		return fmt.Errorf("vmtest: empty word in %s", field)
	}
	for _, r := range w {
		if r <= ' ' || r == '"' || r == 0x7f || r > 0x7e {
			return fmt.Errorf("vmtest: %s entry %q: only printable ASCII without spaces or quotes can pass the kernel command line", field, w)
		}
	}
	return nil
}
