//go:build linux

package lsm

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// lsmListPath lists the active LSMs, in order, comma-separated.
const lsmListPath = "/sys/kernel/security/lsm"

// Probe reports whether BPF LSM programs can load and enforce on this
// kernel: nil if so, otherwise an error that says which part is missing.
//
// Both halves matter. A kernel built with CONFIG_BPF_LSM but booted without
// "bpf" in lsm= loads and attaches LSM programs and then never runs them, so
// loading alone proves nothing; and a kernel that lists "bpf" may still
// refuse the BPF trampolines LSM programs attach through.
func Probe() error {
	if err := bpfLSMActive(); err != nil {
		return err
	}
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		return fmt.Errorf("BPF LSM: load kernel BTF: %w", err)
	}
	if !hookInBTF(kernel, "file_open") {
		return errors.New("BPF LSM: kernel BTF has no bpf_lsm_file_open: kernel built without CONFIG_BPF_LSM")
	}
	return loadTrivialLSM()
}

// bpfLSMActive checks that "bpf" is among the LSMs the kernel runs.
func bpfLSMActive() error {
	list, err := os.ReadFile(lsmListPath)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("BPF LSM: %s missing: securityfs is not mounted or the kernel has no LSM support", lsmListPath)
	}
	if err != nil {
		return fmt.Errorf("BPF LSM: %w", err)
	}
	active := parseLSMList(string(list))
	if !slices.Contains(active, "bpf") {
		return fmt.Errorf("BPF LSM: \"bpf\" is not an active LSM (active: %s): boot with lsm=...,bpf", strings.Join(active, ","))
	}
	return nil
}

// parseLSMList splits the contents of /sys/kernel/security/lsm.
func parseLSMList(s string) []string {
	var out []string
	for name := range strings.SplitSeq(strings.TrimSpace(s), ",") {
		if name = strings.TrimSpace(name); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// hookInBTF reports whether the kernel has LSM hook name. Every hook has a
// bpf_lsm_<name> stub in kernels with CONFIG_BPF_LSM, and a BPF LSM program
// attaches to that stub, so its presence in BTF is exactly "this hook can be
// attached here" — better than guessing from the kernel version.
func hookInBTF(kernel *btf.Spec, name string) bool {
	var fn *btf.Func
	return kernel.TypeByName("bpf_lsm_"+name, &fn) == nil
}

// loadTrivialLSM loads (but does not attach) an lsm/file_open program that
// allows everything.
func loadTrivialLSM() error {
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Name:       "capfd_probe",
		Type:       ebpf.LSM,
		AttachType: ebpf.AttachLSMMac,
		AttachTo:   "file_open",
		License:    "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
	}, ebpf.ProgramOptions{})
	if err != nil {
		return explainLoadError(err)
	}
	return prog.Close()
}

// explainLoadError turns the kernel's terse refusal into a reason.
func explainLoadError(err error) error {
	if errors.Is(err, unix.EPERM) {
		// cilium/ebpf's message suggests raising RLIMIT_MEMLOCK on EPERM;
		// with memcg accounting (5.11+) that is never the cause, and other
		// program types load fine. What fails is the trampoline, so wrap
		// the bare errno and leave the misleading hint out.
		return fmt.Errorf("BPF LSM: the kernel refuses to load BPF LSM programs (EPERM as root): "+
			"it does not allow BPF trampolines here (ftrace/trampoline support blocked, e.g. in some VMs): %w", unix.EPERM)
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("BPF LSM: the kernel cannot load LSM programs: %w", err)
	}
	return fmt.Errorf("BPF LSM: load a test program: %w", err)
}
