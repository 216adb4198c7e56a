package vfsops

import "golang.org/x/sys/unix"

// walkBeneath is the fallback resolver; see walker.go.
func walkBeneath(dirfd int, path string, flags int, mode uint32, how Resolve) (int, error) {
	return -1, unix.ENOSYS
}
