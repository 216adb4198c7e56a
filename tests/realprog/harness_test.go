package realprog

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/internal/treestate"
)

// workload is one row of the matrix.
type workload struct {
	name string
	// needs lists the programs the script runs: names looked up on PATH,
	// or absolute paths. The row is skipped, naming the first missing.
	needs []string
	// setup builds the work tree (beyond what every row gets: an empty
	// tmp/ for TMPDIR and baseTree's src/).
	setup func(t *testing.T, work string)
	// script runs with sh -c in the work directory.
	script string
	// rights are the work directory's grant: rw unless the row says why
	// it needs more.
	rights string
	// flags are extra `capfd run` flags, each a documented one with the
	// reason in a comment.
	flags []string
	// asUser runs both runs as uid/gid 65534, the tree chowned to it.
	asUser bool
	// heavy rows are skipped with -short.
	heavy bool
	// volatile names entries (relative to the work dir) whose contents
	// legitimately differ from run to run (stat data in git's index, a
	// build cache): only their name, type and mode compare, and nothing
	// beneath them.
	volatile []string
	// knownFailure is why the row differs under capfd run today; "" means
	// it must be identical to the direct run.
	knownFailure string
	// viewDiffers declares that in kernel mode the row sees the view's
	// skeleton where the brokered mode shows the host: ls -l's size of a
	// directory above the grants (its ".."), which is the view's tmpfs
	// (vfsops.BuildView copies mode, owner and times, not the size), and
	// the total of blocks, which counts it. The
	// run is then compared with that column masked (skeletonSize), and
	// must still differ unmasked.
	viewDiffers bool
}

// skeletonLine is an ls -l line of "..": the size is its fifth column;
// totalLine is ls -l's block count, which counts ".." too.
var skeletonLine = regexp.MustCompile(`(?m)^(d\S+\s+\d+\s+\S+\s+\S+)\s+\d+(\s.*\s\.\.)$`)

var totalLine = regexp.MustCompile(`(?m)^total \d+$`)

// skeletonSize masks the size of every ls -l line of "..", and the totals.
func skeletonSize(s string) string {
	return totalLine.ReplaceAllString(skeletonLine.ReplaceAllString(s, "${1} SIZE${2}"), "total BLOCKS")
}

// epoch is the mtime of everything setup makes; a description shows it as
// "setup", and any mtime from the run as "run".
var epoch = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

// skipReason says why w cannot run here, "" if it can.
func (w workload) skipReason() string {
	switch {
	case missing(w.needs) != "":
		return missing(w.needs) + " is not on this machine (scripts/setup.sh installs it)"
	case w.asUser && os.Geteuid() != 0:
		return "needs root to run as uid 65534"
	case w.heavy && testing.Short():
		return "heavy row: skipped in -short"
	}
	return ""
}

// runWorkload runs w directly and then under capfd run --mode mode
// (directly again when mode is "": the control that the row itself is
// reproducible) and reports the differences, none when the two did the
// same.
func runWorkload(t *testing.T, w workload, mode string) []string {
	return compareRuns(t, w, mode == "kernel" && w.viewDiffers, func(work string) []string {
		rights := w.rights
		if rights == "" {
			rights = "rw"
		}
		if mode == "" {
			return []string{"sh", "-c", w.script}
		}
		return capfdArgv(w, "--mode", mode, "--grant", work+"="+rights)
	})[0]
}

// capfdArgv is the command line running w's script under capfd run with
// flags and w's own.
func capfdArgv(w workload, flags ...string) []string {
	quiet := "-q"
	if *verbose {
		quiet = "-v"
	}
	argv := append([]string{bin.capfd, "run", quiet}, flags...)
	argv = append(argv, w.flags...)
	return append(argv, "--", "sh", "-c", w.script)
}

// compareRuns runs w directly, then each of the command lines argvs gives
// for the work directory, in turn and each in a fresh one at the same
// path, and reports each one's differences from the direct run. With
// viewDiffers the stdouts are compared with skeletonSize, and must differ
// without it.
func compareRuns(t *testing.T, w workload, viewDiffers bool, argvs ...func(work string) []string) [][]string {
	root := t.TempDir()
	var cred = nobody
	if !w.asUser {
		cred = nil
	} else {
		// uid 65534 must reach the work directory and the capfd binary.
		for _, d := range []string{filepath.Dir(root), root} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	work := filepath.Join(root, "work")
	build := func() {
		if err := os.RemoveAll(work); err != nil {
			t.Fatal(err)
		}
		mkdir(t, work, "tmp")
		baseTree(t, work)
		if w.setup != nil {
			w.setup(t, work)
		}
		settle(t, work, w.asUser)
		// The parent shows as .. (ls -la); re-creating work moved its mtime.
		if err := os.Chtimes(root, epoch, epoch); err != nil {
			t.Fatal(err)
		}
	}
	describe := func(o *outcome, start time.Time) {
		tree, err := treestate.Full(work)
		if err != nil {
			t.Fatalf("describing the work tree: %v", err)
		}
		o.tree = normalTree(tree, start, w.volatile)
		o.stdout = strings.ReplaceAll(o.stdout, work, "$WORK")
		o.stderr = strings.ReplaceAll(o.stderr, work, "$WORK")
	}

	build()
	start := time.Now()
	direct := run(t, work, cred, "sh", "-c", w.script)
	describe(&direct, start)
	if direct.code != 0 {
		t.Fatalf("the direct run failed (exit %d), so the row shows nothing:\nstdout:\n%s\nstderr:\n%s", direct.code, direct.stdout, direct.stderr)
	}

	var all [][]string
	for _, argvFor := range argvs {
		build()
		argv := argvFor(work)
		start = time.Now()
		second := run(t, work, cred, argv...)
		describe(&second, start)
		if viewDiffers {
			if second.stdout == direct.stdout {
				t.Errorf("declares viewDiffers, yet its stdout is the direct run's: remove the declaration")
			}
			d, c := direct, second
			d.stdout, c.stdout = skeletonSize(d.stdout), skeletonSize(c.stdout)
			all = append(all, diffOutcomes(d, c))
			continue
		}
		all = append(all, diffOutcomes(direct, second))
	}
	return all
}

// diffOutcomes are the differences of second from the direct run.
func diffOutcomes(direct, second outcome) []string {
	var diffs []string
	if direct.code != second.code {
		diffs = append(diffs, fmt.Sprintf("exit status %d, directly %d", second.code, direct.code))
	}
	if direct.stdout != second.stdout {
		diffs = append(diffs, "stdout:\n"+lineDiff(direct.stdout, second.stdout))
	}
	if direct.tree != second.tree {
		diffs = append(diffs, "work tree:\n"+lineDiff(direct.tree, second.tree))
	}
	if len(diffs) > 0 {
		diffs = append(diffs, "stderr of the second run:\n"+second.stderr)
	}
	return diffs
}

// normalTree makes a treestate.Full description comparable between two
// runs: mtimes become "setup" (epoch) or "run" (set during the run), and
// volatile entries keep only their name, type and mode.
func normalTree(tree string, start time.Time, volatile []string) string {
	var out []string
	for line := range strings.Lines(tree) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		rel := fields[0]
		keep := true
		vol := false
		for _, v := range volatile {
			if strings.HasPrefix(rel, v+"/") {
				keep = false
			}
			if rel == v {
				vol = true
			}
		}
		if !keep {
			continue
		}
		var kept []string
		for _, f := range fields {
			name, value, _ := strings.Cut(f, "=")
			switch {
			case vol && (name == "size" || name == "nlink" || name == "mtime" || name == "sha"):
				continue
			case name == "mtime":
				f = "mtime=" + mtimeClass(value, start)
			}
			kept = append(kept, f)
		}
		out = append(out, strings.Join(kept, " "))
	}
	return strings.Join(out, "\n")
}

func mtimeClass(value string, start time.Time) string {
	sec, nsec, _ := strings.Cut(value, ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	ns, err2 := strconv.ParseInt(nsec, 10, 64)
	if err1 != nil || err2 != nil {
		return value
	}
	switch mt := time.Unix(s, ns); {
	case mt.Equal(epoch):
		return "setup"
	case !mt.Before(start.Add(-2 * time.Second)):
		return "run"
	}
	return value
}

// lineDiff shows the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			fmt.Fprintf(&b, "  - %s\n", l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			fmt.Fprintf(&b, "  + %s\n", l)
		}
	}
	if b.Len() == 0 {
		return "  (same lines, different order or repetition)\n"
	}
	return b.String()
}

// missing names the first of needs this machine lacks, or "".
func missing(needs []string) string {
	for _, n := range needs {
		if filepath.IsAbs(n) {
			if _, err := os.Stat(n); err != nil {
				return n
			}
			continue
		}
		if _, err := exec.LookPath(n); err != nil {
			return n
		}
	}
	return ""
}

// settle gives everything under work the epoch as mtime (children first)
// and, for the rows run as a user, that user as owner.
func settle(t *testing.T, work string, asUser bool) {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(work, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(epoch.UnixNano()), unix.NsecToTimespec(epoch.UnixNano())}
	for _, p := range slices.Backward(paths) {
		if asUser {
			if err := os.Lchown(p, int(nobody.Uid), int(nobody.Gid)); err != nil {
				t.Fatal(err)
			}
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
}

func mkdir(t *testing.T, work string, rel ...string) {
	t.Helper()
	for _, r := range rel {
		if err := os.MkdirAll(filepath.Join(work, r), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// write makes the file rel (and its directories) with content and mode.
func write(t *testing.T, work, rel, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(work, rel)
	mkdir(t, work, filepath.Dir(rel))
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

func symlink(t *testing.T, work, rel, target string) {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(work, rel)); err != nil {
		t.Fatal(err)
	}
}

// baseTree is what every row's work directory holds besides tmp/:
//
//	src/a.txt, src/b.txt (0600), src/run.sh (0755)
//	src/sub/c.txt, src/sub/deep/d.txt, src/empty/
//	src/link -> a.txt, src/sub/up -> ../b.txt
func baseTree(t *testing.T, work string) {
	t.Helper()
	write(t, work, "src/a.txt", "alpha\n", 0o644)
	write(t, work, "src/b.txt", strings.Repeat("bravo ", 500)+"\n", 0o600)
	write(t, work, "src/run.sh", "#!/bin/sh\necho run.sh ran\n", 0o755)
	write(t, work, "src/sub/c.txt", "charlie\n", 0o644)
	write(t, work, "src/sub/deep/d.txt", "delta\n", 0o640)
	mkdir(t, work, "src/empty")
	symlink(t, work, "src/link", "a.txt")
	symlink(t, work, "src/sub/up", "../b.txt")
}

// tarball writes rel as a tar archive of a few entries owned by uid and
// gid 1234 (a user this machine does not have), dated epoch.
func tarball(t *testing.T, work, rel string) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range []struct {
		name, body, link string
		typ              byte
		mode             int64
	}{
		{name: "pkg/", typ: tar.TypeDir, mode: 0o755},
		{name: "pkg/README", body: "read me\n", typ: tar.TypeReg, mode: 0o644},
		{name: "pkg/bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "pkg/bin/tool", body: "#!/bin/sh\necho tool\n", typ: tar.TypeReg, mode: 0o755},
		{name: "pkg/private", body: "private\n", typ: tar.TypeReg, mode: 0o600},
		{name: "pkg/latest", link: "README", typ: tar.TypeSymlink, mode: 0o777},
	} {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link,
			Size: int64(len(e.body)), Uid: 1234, Gid: 1234, Uname: "someone", Gname: "others",
			ModTime: epoch, Format: tar.FormatGNU}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	write(t, work, rel, b.String(), 0o644)
}
