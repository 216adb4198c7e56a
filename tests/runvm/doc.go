// Package runvm tests that `capfd run` confines its program with the BPF LSM
// layer too, on kernels that have it: inside the VM kernels of
// tests/vm/kernels.txt (internal/vmtest), since the development host refuses
// BPF LSM programs.
//
// The witness is an executable mapping. Under capfd run, Landlock checks
// exec only at execve and the seccomp supervisor does not mediate mmap, so
// without the BPF layer a program may mmap(PROT_EXEC) a file it was granted
// only to read (docs/kernel-enforcement.md, exec-via-dynamic-loader). With the
// BPF layer, the mmap_file hook refuses it unless the grant carries
// mmap-exec (or exec). The tests show both sides: the host (no BPF LSM)
// maps, the guest refuses, and the guest maps once mmap-exec is granted.
package runvm
