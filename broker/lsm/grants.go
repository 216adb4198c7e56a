//go:build linux

package lsm

import (
	"errors"
	"fmt"

	"github.com/capfd/capfd/rights"
	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// KernelDev converts a device number as stat(2) reports it (st_dev) to the
// kernel's internal dev_t encoding, MAJOR<<20 | MINOR, which is what the BPF
// programs read from inode->i_sb->s_dev. The two differ for any minor above
// 255, so the conversion is never optional.
func KernelDev(statDev uint64) (uint32, error) {
	major, minor := unix.Major(statDev), unix.Minor(statDev)
	if major >= 1<<12 || minor >= 1<<20 {
		return 0, fmt.Errorf("device %d:%d does not fit the kernel's dev_t", major, minor)
	}
	return major<<20 | minor, nil
}

// statDevFromKernel is KernelDev's inverse.
func statDevFromKernel(dev uint32) uint64 {
	return unix.Mkdev(dev>>20, dev&(1<<20-1))
}

// Grant records that sandbox may use the inode (dev, ino) with rights r.
// dev is st_dev as stat(2) reports it. For a directory (isDir), r.Inherit is
// the ceiling of everything beneath it that has no grant of its own; for a
// file it is meaningless and dropped. A second Grant of the same inode
// replaces the first.
//
// The key is the inode, not a path: renaming a granted file keeps its
// rights, and a path that later names another inode does not inherit them.
// On filesystems whose stat st_dev is not the superblock's device (btrfs
// subvolumes, overlayfs), grant the inode through the device the kernel uses.
func (e *Enforcer) Grant(sandbox uint32, dev, ino uint64, r rights.Pair, isDir bool) error {
	key, err := grantKey(sandbox, dev, ino)
	if err != nil {
		return fmt.Errorf("BPF LSM: grant: %w", err)
	}
	if unknown := r.Base.Unknown() | r.Inherit.Unknown(); unknown != 0 {
		return fmt.Errorf("BPF LSM: grant: unknown rights bits %#x", uint64(unknown))
	}
	val := capfdGrantVal{Base: uint64(r.Base)}
	if isDir {
		val.Inherit = uint64(r.Inherit)
	}
	if err := e.grants.Update(key, val, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("BPF LSM: grant sandbox %d inode %d:%d: %w", sandbox, key.Dev, ino, err)
	}
	return nil
}

// GrantPath grants the object path names (following symlinks) to sandbox:
// a convenience for tests and tools. The broker grants the inode of the
// descriptor it serves (broker.GrantedObject), never a second lookup of a
// name, which could reach another file by then.
func (e *Enforcer) GrantPath(sandbox uint32, path string, r rights.Pair) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fmt.Errorf("BPF LSM: grant %s: %w", path, err)
	}
	return e.Grant(sandbox, st.Dev, st.Ino, r, st.Mode&unix.S_IFMT == unix.S_IFDIR)
}

// Revoke removes sandbox's grant of the inode (dev, ino); dev is st_dev.
// Revoking what was never granted is an error.
func (e *Enforcer) Revoke(sandbox uint32, dev, ino uint64) error {
	key, err := grantKey(sandbox, dev, ino)
	if err != nil {
		return fmt.Errorf("BPF LSM: revoke: %w", err)
	}
	if err := e.grants.Delete(key); err != nil {
		return fmt.Errorf("BPF LSM: revoke sandbox %d inode %d:%d: %w", sandbox, key.Dev, ino, err)
	}
	return nil
}

// RevokePath removes sandbox's grant of the object path names.
func (e *Enforcer) RevokePath(sandbox uint32, path string) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fmt.Errorf("BPF LSM: revoke %s: %w", path, err)
	}
	return e.Revoke(sandbox, st.Dev, st.Ino)
}

// RevokeSandbox removes every grant of sandbox and returns how many there
// were. Its marked processes keep running, with no rights on anything.
func (e *Enforcer) RevokeSandbox(sandbox uint32) (int, error) {
	var (
		key  capfdGrantKey
		val  capfdGrantVal
		mine []capfdGrantKey
	)
	it := e.grants.Iterate()
	for it.Next(&key, &val) {
		if key.Sandbox == sandbox {
			mine = append(mine, key)
		}
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("BPF LSM: revoke sandbox %d: %w", sandbox, err)
	}
	n := 0
	for _, k := range mine {
		err := e.grants.Delete(k)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			continue // revoked concurrently: gone either way
		}
		if err != nil {
			return n, fmt.Errorf("BPF LSM: revoke sandbox %d: %w", sandbox, err)
		}
		n++
	}
	return n, nil
}

func grantKey(sandbox uint32, dev, ino uint64) (capfdGrantKey, error) {
	if sandbox == 0 {
		return capfdGrantKey{}, errors.New("sandbox 0 is reserved")
	}
	kdev, err := KernelDev(dev)
	if err != nil {
		return capfdGrantKey{}, err
	}
	return capfdGrantKey{Sandbox: sandbox, Dev: kdev, Ino: ino}, nil
}
