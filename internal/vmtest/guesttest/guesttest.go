// Package guesttest is the self-test guest of package vmtest: its tests run
// inside every kernel of the matrix (driven from tests/vm) and check that the
// guest is what VM tests of capfd rely on: the LSM list, kernel BTF, the
// mounted filesystems, arguments and files from the host, and a BPF LSM
// program that loads, denies, and detaches.
//
// On the host the guest-only tests skip (vmtest.RequireVM).
package guesttest
