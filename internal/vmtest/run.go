package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
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

// QemuBinary is the emulator; CAPFD_QEMU overrides it.
func QemuBinary() (string, error) {
	name := os.Getenv("CAPFD_QEMU")
	if name == "" {
		name = "qemu-system-x86_64"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found (apt-get install --no-install-recommends qemu-system-x86, or run %s): %w", name, FetchCommand, err)
	}
	return p, nil
}

// Run boots kernel k with an initramfs holding opts.TestBinary, runs it with
// opts.Args and returns the console output and exit code. A non-zero exit
// code is not an error; a guest that never reports one is (ErrNoExitStatus),
// as is a timeout.
func Run(ctx context.Context, k Kernel, opts Options) (Result, error) {
	img, err := newImage(opts)
	if err != nil {
		return Result{ExitCode: -1}, err
	}
	defer img.remove()
	return img.boot(ctx, k, opts)
}

// image is an initramfs ready to boot, shared by the kernels of one run.
type image struct {
	path string
	dir  string // temporary directory holding path
}

func newImage(opts Options) (*image, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	initPath, err := buildInit()
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	tmpRoot := filepath.Join(cacheDir(root), "tmp")
	if err := os.MkdirAll(tmpRoot, 0o755); err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	pruneStale(tmpRoot)
	dir, err := os.MkdirTemp(tmpRoot, "run-")
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	img := &image{path: filepath.Join(dir, "initramfs.cpio"), dir: dir}
	if err := writeInitramfs(img.path, initPath, opts.TestBinary, opts.ExtraFiles); err != nil {
		img.remove()
		return nil, err
	}
	return img, nil
}

func (img *image) remove() { os.RemoveAll(img.dir) }

// pruneStale removes initramfs directories left by runs that were killed
// before their cleanup (a test binary hitting its -timeout, say). A day is
// far longer than any run, so a live run's image is never touched.
func pruneStale(tmpRoot string) {
	entries, _ := os.ReadDir(tmpRoot)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			os.RemoveAll(filepath.Join(tmpRoot, e.Name()))
		}
	}
}

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

var markerRE = regexp.MustCompile(`^vmtest: (start|exit-status) ([0-9a-f]+)(?: (-?[0-9]+))?$`)

func (img *image) boot(ctx context.Context, k Kernel, opts Options) (Result, error) {
	res := Result{ExitCode: -1}
	if err := k.Check(); err != nil {
		return res, err
	}
	qemu, err := QemuBinary()
	if err != nil {
		return res, err
	}
	nonceBytes := make([]byte, 8)
	rand.Read(nonceBytes)
	nonce := hex.EncodeToString(nonceBytes)
	line, err := cmdline(nonce, opts)
	if err != nil {
		return res, err
	}

	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, qemu,
		"-m", "1024", "-smp", "2",
		"-no-reboot", // a guest reset or panic ends qemu
		"-accel", "tcg",
		// What -nographic does, minus telling the firmware to write its
		// banner and escape sequences to the serial line: the console
		// then holds only what the kernel and the guest print.
		"-display", "none", "-serial", "stdio", "-monitor", "none",
		// No NIC (no option ROM to load, nothing to probe) and no VGA:
		// the guest only needs a serial line and loopback.
		"-nic", "none", "-vga", "none",
		"-kernel", k.Vmlinuz,
		"-initrd", img.path,
		"-append", line,
	)
	// qemu on a terminal would switch it to raw mode; give it none.
	cmd.Stdin = nil
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, fmt.Errorf("qemu: %w", err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start qemu: %w", err)
	}

	var out strings.Builder
	var started time.Time
	sawExit := false
	r := bufio.NewReader(stdout)
	for {
		text, rerr := r.ReadString('\n')
		if text != "" {
			// The serial console ends lines with \r\n.
			text = strings.ReplaceAll(text, "\r", "")
			out.WriteString(text)
			if opts.Console != nil {
				opts.Console.Write([]byte(text))
			}
			if m := markerRE.FindStringSubmatch(strings.TrimSuffix(text, "\n")); m != nil && m[2] == nonce {
				now := time.Now()
				switch m[1] {
				case "start":
					started = now
					res.BootTime = now.Sub(start)
				case "exit-status":
					res.ExitCode, _ = strconv.Atoi(m[3])
					sawExit = true
					if !started.IsZero() {
						res.RunTime = now.Sub(started)
					}
				}
			}
		}
		if rerr != nil {
			break
		}
	}
	waitErr := cmd.Wait()
	res.Output = out.String()

	switch {
	case ctx.Err() != nil && !sawExit:
		return res, fmt.Errorf("%s: no result after %v: %w", k, time.Since(start).Round(time.Second), ctx.Err())
	case waitErr != nil && !sawExit:
		return res, fmt.Errorf("%s: qemu: %w\n%s", k, waitErr, stderr.Bytes())
	case !sawExit:
		res.ExitCode = -1
		return res, fmt.Errorf("%s: %w", k, ErrNoExitStatus)
	}
	return res, nil
}
