package vmtest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MatrixFile is the kernel matrix, relative to the repository root: one line
// per kernel, "name suite package version". scripts/fetch-kernels.sh reads the
// same file, so pins live in exactly one place.
const MatrixFile = "tests/vm/kernels.txt"

// FetchCommand is what a developer runs to get qemu and the kernels.
const FetchCommand = "scripts/fetch-kernels.sh"

// EnvKernelDir overrides where the fetched kernels are looked for (default
// .cache/kernels in the repository); scripts/fetch-kernels.sh honours it too.
const EnvKernelDir = "CAPFD_VM_KERNEL_DIR"

// Kernel is one entry of the matrix.
type Kernel struct {
	Name    string // matrix name, e.g. "bookworm-6.12"; used as the subtest name
	Suite   string // Debian suite the package comes from
	Package string // Debian binary package, e.g. "linux-image-6.1.0-47-cloud-amd64"
	Version string // pinned Debian package version, e.g. "6.1.170-3"
	Release string // `uname -r` inside the guest, from the vmlinuz name; "" if not fetched
	Vmlinuz string // path of the extracted kernel image; "" if not fetched
}

// ErrKernelMissing is returned (wrapped) by Kernel.Check for a kernel that has
// not been fetched.
var ErrKernelMissing = errors.New("kernel not fetched")

// Check reports whether the kernel image is present, naming the command that
// fetches it when it is not.
func (k Kernel) Check() error {
	if k.Vmlinuz == "" {
		return fmt.Errorf("%s (%s=%s): %w; run %s", k.Name, k.Package, k.Version, ErrKernelMissing, FetchCommand)
	}
	return nil
}

func (k Kernel) String() string {
	if k.Release != "" {
		return k.Name + " (" + k.Release + ")"
	}
	return k.Name
}

// Kernels returns the matrix of the repository that contains the working
// directory, with the images found under .cache/kernels.
func Kernels() ([]Kernel, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	return LoadMatrix(root)
}

// LoadMatrix reads root/MatrixFile and locates each kernel's image, fetched by
// scripts/fetch-kernels.sh into root/.cache/kernels/<name>/boot/vmlinuz-*
// (or $CAPFD_VM_KERNEL_DIR/<name>/...). A kernel that is listed but not
// fetched is returned with Vmlinuz == "".
func LoadMatrix(root string) ([]Kernel, error) {
	f, err := os.Open(filepath.Join(root, MatrixFile))
	if err != nil {
		return nil, fmt.Errorf("kernel matrix: %w", err)
	}
	defer f.Close()
	kernels, err := parseMatrix(f.Name(), bufio.NewScanner(f))
	if err != nil {
		return nil, err
	}
	dir := os.Getenv(EnvKernelDir)
	if dir == "" {
		dir = filepath.Join(root, ".cache", "kernels")
	}
	for i := range kernels {
		if err := kernels[i].locate(filepath.Join(dir, kernels[i].Name)); err != nil {
			return nil, err
		}
	}
	return kernels, nil
}

func parseMatrix(name string, s *bufio.Scanner) ([]Kernel, error) {
	var kernels []Kernel
	seen := map[string]bool{}
	for line := 1; s.Scan(); line++ {
		text, _, _ := strings.Cut(s.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 4 {
			return nil, fmt.Errorf("%s:%d: want \"name suite package version\", got %d fields", name, line, len(fields))
		}
		k := Kernel{Name: fields[0], Suite: fields[1], Package: fields[2], Version: fields[3]}
		// The name becomes a directory and a subtest name: keep it plain.
		if strings.ContainsAny(k.Name, `/\`) || k.Name == "." || k.Name == ".." || strings.HasPrefix(k.Name, ".") {
			return nil, fmt.Errorf("%s:%d: invalid kernel name %q", name, line, k.Name)
		}
		if seen[k.Name] {
			return nil, fmt.Errorf("%s:%d: duplicate kernel name %q", name, line, k.Name)
		}
		seen[k.Name] = true
		kernels = append(kernels, k)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(kernels) == 0 {
		return nil, fmt.Errorf("%s: no kernels listed", name)
	}
	return kernels, nil
}

// locate fills Vmlinuz and Release if dir holds the pinned package, unpacked.
// The .pinned stamp is written by the fetch script after a complete unpack;
// an image from an older pin is ignored so a bumped pin is never tested
// against a stale kernel.
func (k *Kernel) locate(dir string) error {
	stamp, err := os.ReadFile(filepath.Join(dir, ".pinned"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kernel %s: %w", k.Name, err)
	}
	if strings.TrimSpace(string(stamp)) != k.Package+"="+k.Version {
		return nil
	}
	images, err := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if err != nil {
		return fmt.Errorf("kernel %s: %w", k.Name, err)
	}
	if len(images) != 1 {
		return nil
	}
	k.Vmlinuz = images[0]
	k.Release = strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-")
	return nil
}

// RepoRoot returns the directory of the go.mod that encloses the working
// directory: tests run in their package directory, so walking up finds it
// without running the go command.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}
