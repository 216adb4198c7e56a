package launch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/capfd/capfd/broker/notify"
)

// Reporting what was refused.
//
// A program that fails under capfd run usually fails because of one
// refusal, often a probe (a stat of /etc/alternatives/cc, a readlink of a
// config file), which it took for "missing" and gave up on; meanwhile it
// made dozens of refusals that changed nothing (a $PATH search, optional
// files that do not exist anyway). Printing each as it happens buries
// the one that mattered. So by default nothing is printed while the
// program runs, and when it ends:
//
//   - with a failure (a non-zero status or a signal): the last refusals
//     before the end (up to maxShown, each subject once, with the --grant
//     that would allow it), and a count of the rest;
//   - successfully: the same for the refusals that were more than a probe
//     (a probe's answer was one the program could live with), if any.
//
// Refusals of paths that do not exist on the host either (Refusal.Absent)
// are counted but never shown by default: the program was answered what a
// direct run answers. -v prints every refusal as it happens (probes and
// absent paths included) and the counters at the end; -q prints none;
// --log-format json prints every refusal as it happens as one JSON object
// per line, and a last "exit" object; --audit FILE writes that stream to
// FILE, whatever is printed.

// maxShown is how many refusals a failure's report shows.
const maxShown = 5

// LogFormat values.
const (
	LogText = "text"
	LogJSON = "json"
)

// report collects the supervisor's refusals for one run.
type report struct {
	log     io.Writer
	verbose bool
	quiet   bool
	json    *slog.Logger // --log-format json, or nil
	audit   *slog.Logger // --audit, or nil
	// kernel: the run is in kernel mode, whose kernel-answered refusals
	// the supervisor never sees.
	kernel bool

	mu sync.Mutex
	// total counts every refusal, absent those of paths that do not
	// exist.
	total, absent int
	// recent are the last refusals of paths that exist, oldest first,
	// each Key once; changes the same for those more than a probe.
	recent, changes []notify.Refusal
}

func newReport(opts *Options, log io.Writer) *report {
	r := &report{log: log, verbose: opts.Verbose, quiet: opts.Quiet}
	if opts.LogFormat == LogJSON {
		r.json = slog.New(slog.NewJSONHandler(log, nil))
	}
	if opts.Audit != nil {
		r.audit = slog.New(slog.NewJSONHandler(opts.Audit, nil))
	}
	return r
}

// add is the supervisor's Config.Report.
func (r *report) add(x notify.Refusal) {
	var attrs []slog.Attr
	if r.audit != nil || r.json != nil {
		attrs = refusalAttrs(x)
	}
	if r.audit != nil {
		r.audit.LogAttrs(context.Background(), slog.LevelWarn, "denied", attrs...)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	switch {
	case r.json != nil:
		r.json.LogAttrs(context.Background(), slog.LevelWarn, "denied", attrs...)
	case r.verbose && !r.quiet:
		fmt.Fprintln(r.log, x)
	}
	if x.Absent {
		r.absent++
		return
	}
	r.recent = keepLast(r.recent, x)
	if !x.Probe {
		r.changes = keepLast(r.changes, x)
	}
}

// keepLast appends x to the last refusals, dropping an earlier one with the
// same subject and the oldest beyond maxShown.
func keepLast(last []notify.Refusal, x notify.Refusal) []notify.Refusal {
	for i, seen := range last {
		if seen.Key() == x.Key() {
			last = append(last[:i], last[i+1:]...)
			break
		}
	}
	last = append(last, x)
	if len(last) > maxShown {
		last = last[1:]
	}
	return last
}

// finish reports the end of the run: prog exited with status (128+N for
// signal N) after served requests.
func (r *report) finish(prog string, status int, served uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	exit := []slog.Attr{slog.String("program", prog), slog.Int("status", status),
		slog.Uint64("served", served), slog.Int("refused", r.total), slog.Int("refused_absent", r.absent)}
	if r.audit != nil {
		r.audit.LogAttrs(context.Background(), slog.LevelInfo, "exit", exit...)
	}
	switch {
	case r.json != nil:
		r.json.LogAttrs(context.Background(), slog.LevelInfo, "exit", exit...)
		return
	case r.quiet:
		return
	case r.verbose:
		fmt.Fprintf(r.log, "capfd run: %d requests served, %d refused (%d of paths that do not exist)\n", served, r.total, r.absent)
		return
	}
	shown := r.recent
	if status == 0 {
		// Success: probes were answered as the program expected.
		shown = r.changes
	}
	if status != 0 && r.kernel {
		defer fmt.Fprintf(r.log, "capfd run: in kernel mode the kernel answers lookups, stats and read-only opens itself, and what it refuses is not listed; --mode brokered lists every refusal\n")
		if len(shown) == 0 {
			fmt.Fprintf(r.log, "capfd run: %s exited with status %d\n", filepath.Base(prog), status)
		}
	}
	if len(shown) == 0 {
		return
	}
	if status == 0 {
		fmt.Fprintf(r.log, "capfd run: %d requests refused; the last ones:\n", r.total)
	} else {
		fmt.Fprintf(r.log, "capfd run: %s exited with status %d; the last refusals before it:\n", filepath.Base(prog), status)
	}
	for _, x := range shown {
		fmt.Fprintln(r.log, x)
	}
	if more := r.total - len(shown); more > 0 {
		fmt.Fprintf(r.log, "capfd run: and %d more refused (%d of paths that do not exist); capfd run -v shows each as it happens\n", more, r.absent)
	}
}

// refusalAttrs are a refusal's fields for a JSON event, named as the
// broker's audit log names them where they mean the same.
func refusalAttrs(x notify.Refusal) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("kind", x.Kind),
		slog.String("op", x.Op),
		slog.String("path", x.Path),
		slog.Int("pid", x.Pid),
		slog.String("result", "denied"),
	}
	if x.Missing != 0 {
		attrs = append(attrs, slog.String("missing", x.Missing.String()))
	}
	if x.Why != "" {
		attrs = append(attrs, slog.String("why", x.Why))
	}
	if x.Grant != "" {
		attrs = append(attrs, slog.String("grant", x.Grant))
	}
	return append(attrs, slog.Bool("outside", x.Outside), slog.Bool("probe", x.Probe), slog.Bool("absent", x.Absent))
}
