// Package run tests `capfd run` end to end: the real binary, unmodified
// programs (cat, ls, sh), and escape attempts made from inside, each shown
// to work without capfd and to fail under it.
package run

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/capfd/capfd/tests/internal/runsuite"
)

// bin holds the binaries built once for the whole package.
var bin struct {
	dir        string
	capfd      string
	openloop   string
	capaware   string
	openstress string
	fileattr   string
	fdops      string
	swapwrite  string
	memfdexec  string
	openat2w   string
	pathsem    string
	listdir    string
	ambient    string
	cfloor     string // "" when no C compiler is installed
	cstress    string // "" when no C compiler is installed
	fifostress string // "" when no C compiler is installed
	err        error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "capfd-run-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.dir = dir
	bin.capfd = filepath.Join(dir, "capfd")
	bin.openloop = filepath.Join(dir, "openloop")
	bin.capaware = filepath.Join(dir, "capaware")
	bin.openstress = filepath.Join(dir, "openstress")
	bin.fileattr = filepath.Join(dir, "fileattr")
	bin.fdops = filepath.Join(dir, "fdops")
	bin.swapwrite = filepath.Join(dir, "swapwrite")
	bin.memfdexec = filepath.Join(dir, "memfdexec")
	bin.openat2w = filepath.Join(dir, "openat2w")
	bin.pathsem = filepath.Join(dir, "pathsem")
	bin.listdir = filepath.Join(dir, "listdir")
	bin.ambient = filepath.Join(dir, "ambient")
	bin.err = runsuite.Build(map[string]string{
		bin.capfd:      "github.com/capfd/capfd/cmd/capfd",
		bin.openloop:   "./testdata/openloop",
		bin.capaware:   "./testdata/capaware",
		bin.openstress: "./testdata/openstress",
		bin.fileattr:   "./testdata/fileattr",
		bin.fdops:      "./testdata/fdops",
		bin.swapwrite:  "./testdata/swapwrite",
		bin.memfdexec:  "./testdata/memfdexec",
		bin.openat2w:   "./testdata/openat2w",
		bin.pathsem:    "./testdata/pathsem",
		bin.listdir:    "./testdata/listdir",
		bin.ambient:    "./testdata/ambient",
	})
	// The C programs need a C compiler (scripts/setup.sh installs one).
	if cc, err := exec.LookPath("cc"); err == nil {
		for out, src := range map[*string]string{
			&bin.cfloor:     "testdata/cfloor/cfloor.c",
			&bin.cstress:    "testdata/cstress/cstress.c",
			&bin.fifostress: "testdata/fifostress/fifostress.c",
		} {
			exe := filepath.Join(dir, filepath.Base(filepath.Dir(src)))
			if b, err := exec.Command(cc, "-O2", "-pthread", "-o", exe, src).CombinedOutput(); err == nil {
				*out = exe
			} else {
				fmt.Fprintf(os.Stderr, "%s not built: %v\n%s", src, err, b)
			}
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func requireRun(t testing.TB) {
	t.Helper()
	runsuite.Require(t, bin.err)
}

// outcome is what a command did.
type outcome struct {
	stdout, stderr string
	code           int
}

// run runs argv in dir and returns what it did.
func run(t testing.TB, dir string, argv ...string) outcome {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	return runCmd(t, cmd)
}

// runCmd runs cmd, its output collected, and returns what it did.
func runCmd(t testing.TB, cmd *exec.Cmd) outcome {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	o := outcome{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		o.code = exit.ExitCode()
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			o.code = 128 + int(ws.Signal())
		}
	case err != nil:
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return o
}

// capfdRun runs PROG under `capfd run` with flags, in dir.
func capfdRun(t testing.TB, dir string, flags []string, prog ...string) outcome {
	t.Helper()
	argv := append([]string{bin.capfd, "run"}, flags...)
	argv = append(argv, "--")
	return run(t, dir, append(argv, prog...)...)
}

// fixture is a test directory:
//
//	data/hello.txt, data/sub/inner.txt    (granted ro)
//	data/out-abs -> ROOT/secret/s.txt     (absolute symlink out)
//	data/out-rel -> ../secret/s.txt       (relative symlink out)
//	rw/                                   (granted rw)
//	secret/s.txt                          (not granted)
type fixture struct {
	root, data, rw, secret string
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	root := t.TempDir()
	f := fixture{root: root, data: filepath.Join(root, "data"), rw: filepath.Join(root, "rw"), secret: filepath.Join(root, "secret")}
	for _, d := range []string{f.data + "/sub", f.rw, f.secret} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		f.data + "/hello.txt":     "hello\n",
		f.data + "/sub/inner.txt": "inner\n",
		f.secret + "/s.txt":       "secret\n",
	}
	for name, content := range files {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(f.secret+"/s.txt", f.data+"/out-abs"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret/s.txt", f.data+"/out-rel"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f fixture) grants() []string {
	return []string{"--grant", f.data + "=ro", "--grant", f.rw + "=rw"}
}

func (f fixture) read(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mkdir makes the directory dir (mode 0755) and returns it.
func mkdir(t testing.TB, dir string) string {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyCommand copies the program name, as found on PATH, to dst (mode
// 0755) and returns dst: the same program at a path the test's grants
// place.
func copyCommand(t testing.TB, name, dst string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, body, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

func wantContains(t testing.TB, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("%s: %q does not contain %q", what, got, want)
	}
}
