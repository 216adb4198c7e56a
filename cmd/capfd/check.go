package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/capfd/capfd/broker/capmode"
	"github.com/capfd/capfd/broker/landlock"
	"github.com/capfd/capfd/broker/lsm"
	"github.com/capfd/capfd/broker/seccomp"
	"github.com/capfd/capfd/vfsops"
)

func init() {
	register("check", command{
		summary: "report which enforcement layers this kernel supports, and why not",
		usage:   "[flags]",
		help: func(w io.Writer) {
			fmt.Fprint(w, "Probes each kernel layer capfd uses and says what it is for; exits 1 when\nno kernel backend (Landlock, seccomp, BPF LSM) works.\n")
		},
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) int {
			asJSON := fs.Bool("json", false, "print JSON")
			return func(args []string, stdout, stderr io.Writer) int {
				if len(args) != 0 {
					return usageError(stderr, "check", "takes no arguments")
				}
				return runCheck(*asJSON, stdout, stderr)
			}
		},
	})
}

// feature is one line of `capfd check`.
type feature struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	// Role says what capfd uses the feature for, so a missing one reads as
	// a consequence rather than a bare "no".
	Role string `json:"role"`
}

func probeFeatures() []feature {
	var out []feature
	add := func(name, role string, detail string, err error) {
		f := feature{Name: name, Role: role, OK: err == nil, Detail: detail}
		if err != nil {
			f.Detail = err.Error()
		}
		out = append(out, f)
	}

	add("openat2", "beneath-resolution in one syscall (else the component-walking fallback)",
		"RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS available", vfsops.ProbeOpenat2())

	mode, err := vfsops.ProcfsMode()
	add("procfs", "hardened /proc handle for fd reopen", "handle: "+mode, err)

	abi, err := landlock.Probe()
	add("landlock", "kernel backstop (unprivileged): file access by grant", fmt.Sprintf("ABI %d", abi), err)

	add("seccomp", "kernel backstop: syscall filter, user notification for `capfd run`",
		"filters and user notification available", seccomp.Probe())

	add("bpf-lsm", "kernel backstop (primary): eBPF LSM hooks enforce rights per inode",
		"programs load and enforce", lsm.Probe())
	return out
}

// kernelOf is what capmode.Enforcement needs of the probed features.
func kernelOf(features []feature) capmode.Kernel {
	var k capmode.Kernel
	for _, f := range features {
		switch f.Name {
		case "landlock":
			if f.OK {
				k.LandlockABI, _ = landlock.Probe()
			}
		case "seccomp":
			k.Seccomp = f.OK
		case "bpf-lsm":
			k.BPFLSM = f.OK
		}
	}
	return k
}

// runCheck reports kernel support. It exits 0 when the library and at least
// one kernel backend work, since the broker runs with whatever is available;
// 1 when no kernel backstop is available at all.
func runCheck(asJSON bool, stdout, stderr io.Writer) int {
	features := probeFeatures()
	ambient := capmode.Enforcement(kernelOf(features))
	if asJSON {
		report := struct {
			Features       []feature        `json:"features"`
			CapabilityMode []capmode.Status `json:"capability_mode"`
		}{features, ambient}
		if code := writeJSON(stdout, stderr, report); code != 0 {
			return code
		}
	} else {
		for _, f := range features {
			mark := "yes"
			if !f.OK {
				mark = "no "
			}
			fmt.Fprintf(stdout, "%-9s %s  %s\n          used for: %s\n", f.Name, mark, f.Detail, f.Role)
		}
		fmt.Fprintln(stdout, "\ncapability mode of capfd run (docs/capability-mode.md):")
		for _, s := range ambient {
			mark := "yes"
			if !s.Enforced {
				mark = "no "
			}
			fmt.Fprintf(stdout, "  %-40s %s  %s\n", s.Authority, mark, s.How)
		}
	}
	backends := 0
	for _, f := range features {
		if f.OK && (f.Name == "landlock" || f.Name == "seccomp" || f.Name == "bpf-lsm") {
			backends++
		}
	}
	if backends == 0 {
		fmt.Fprintln(stderr, "capfd check: no kernel enforcement backend is available; only the library and broker layers protect you")
		return 1
	}
	return 0
}
