package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

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

// markerRE matches the lines init prints around the test binary.
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
		"-m", "1024", "-smp", guestCPUs(),
		"-no-reboot", // a guest reset or panic ends qemu
		"-accel", "tcg", "-cpu", guestCPUModel(),
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

// guestCPUs is the guest's CPU count: 1 unless CAPFD_VM_SMP says otherwise.
// Each emulated CPU is a host thread under TCG, and the host has two cores
// shared with the rest of the test run; no guest test needs a second CPU.
// (Two vCPUs do not avoid the TCG faults bootRetryingEmulatorFaults handles;
// they add a scheduler load-balancer variant of them.)
func guestCPUs() string {
	if n := os.Getenv("CAPFD_VM_SMP"); n != "" {
		return n
	}
	return "1"
}

// guestCPUModel is the emulated CPU: CAPFD_VM_CPU, or qemu's default.
func guestCPUModel() string {
	if m := os.Getenv("CAPFD_VM_CPU"); m != "" {
		return m
	}
	return "qemu64"
}
