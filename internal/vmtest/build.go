package vmtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// initPackage is the PID-1 program packed into every initramfs.
const initPackage = "github.com/capfd/capfd/internal/vmtest/init"

// cacheDir is where built artifacts live, relative to the repository root.
// It is git-ignored with the rest of .cache/.
func cacheDir(root string) string { return filepath.Join(root, ".cache", "vm") }

// BuildTestBinary compiles the tests of pkg (an import path or a ./relative
// pattern, resolved from the repository root) into a static test binary under
// .cache/vm/bin and returns its path.
//
// CGO_ENABLED=0 because the guest has no libc. The go build cache keeps this
// cheap after the first build; the link step runs each time.
func BuildTestBinary(pkg string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	name := strings.NewReplacer("/", "_", ".", "_").Replace(strings.TrimPrefix(pkg, "./")) + ".test"
	out := filepath.Join(cacheDir(root), "bin", name)
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	if err := goBuild(root, out, "test", "-c", "-o", tmp, pkg); err != nil {
		return "", fmt.Errorf("build test binary of %s: %w", pkg, err)
	}
	if _, err := os.Stat(tmp); err != nil {
		// go test -c writes nothing for a package without test files.
		return "", fmt.Errorf("build test binary of %s: package has no tests", pkg)
	}
	if err := declareInputs(root, pkg, initPackage); err != nil {
		return "", fmt.Errorf("build test binary of %s: %w", pkg, err)
	}
	// Rename last so a concurrent run in another process never executes a
	// half-written binary.
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("build test binary of %s: %w", pkg, err)
	}
	return out, nil
}

var initBuild struct {
	once sync.Once
	path string
	err  error
}

// buildInit compiles the init program once per process.
func buildInit() (string, error) {
	initBuild.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			initBuild.err = err
			return
		}
		out := filepath.Join(cacheDir(root), "init")
		tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
		if err := goBuild(root, tmp, "build", "-trimpath", "-o", tmp, initPackage); err != nil {
			initBuild.err = fmt.Errorf("build vm init: %w", err)
			return
		}
		if err := os.Rename(tmp, out); err != nil {
			initBuild.err = fmt.Errorf("build vm init: %w", err)
			return
		}
		initBuild.path = out
	})
	return initBuild.path, initBuild.err
}

// goBuild runs the go command in root for a static linux/amd64 binary. It
// uses the go binary that built the running program when it can find it, so
// host tests and guest binaries come from one toolchain.
func goBuild(root, out string, args ...string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	cmd := exec.Command(goCommand(), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return nil
}

func goCommand() string {
	if goroot := os.Getenv("GOROOT"); goroot != "" {
		if p := filepath.Join(goroot, "bin", "go"); fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// declareInputs makes go test's result cache see the sources of the guest
// binary. The cache keys a test run on the files the test process itself
// opens or stats; the guest binary is compiled by a child go command, so
// without this a changed guest package would replay a stale cached PASS.
// Stat'ing every file of the main-module packages involved records their
// size and mtime; reading each directory records added or removed files.
// Dependencies outside the module are pinned by go.mod and go.sum.
func declareInputs(root string, pkgs ...string) error {
	args := append([]string{"list", "-deps", "-test", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}"}, pkgs...)
	cmd := exec.Command(goCommand(), args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go list: %w\n%s", err, stderr.Bytes())
	}
	seen := map[string]bool{}
	for _, dir := range strings.Split(string(out), "\n") {
		if dir == "" || seen[dir] {
			continue
		}
		seen[dir] = true
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !e.IsDir() {
				os.Stat(filepath.Join(dir, e.Name()))
			}
		}
	}
	os.Stat(filepath.Join(root, "go.mod"))
	os.Stat(filepath.Join(root, "go.sum"))
	return nil
}
