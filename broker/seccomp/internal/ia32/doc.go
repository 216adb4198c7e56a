// Package ia32 makes one i386 syscall from a 64-bit process through
// int 0x80, for broker/seccomp's test that such a call cannot slip past a
// filter written for x86-64 numbers. It exists only for that test.
package ia32
