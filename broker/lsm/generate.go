//go:build linux

package lsm

// The BPF object is generated from bpf/capfd.bpf.c and committed
// (capfd_bpfel.go, capfd_bpfel.o), so building capfd needs no clang. Run
// ./generate.sh after changing the C source; it checks for the toolchain
// (clang, llvm-strip, libbpf headers) first.
//
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -tags linux -target bpfel -type denial -type grant_key -type grant_val -type mark -type hook -type capmode_val -type port_key capfd bpf/capfd.bpf.c -- -I./bpf -Wall -Werror -O2 -g
