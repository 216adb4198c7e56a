package bypass

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pairsPerSample is how many open+close pairs one sample times (~25 ms).
const pairsPerSample = 5000

// BenchmarkOpenClose measures open+close of a file in the granted directory
// in long-lived servers that are unconfined, Landlock-confined and
// Landlock+seccomp-confined, side by side, asked in turn each iteration
// (one iteration = one round of samples). It reports medians over rounds:
//
//	landlock/unconfined, landlock+seccomp/unconfined
//	    the cost confinement puts on the confined process;
//	beside-confined/unconfined
//	    the cost on an UNconfined process of a confined process existing: the
//	    unconfined server sampled while a confined sibling is started and
//	    alive, against the mean of its samples just before and after;
//	noise:after/before
//	    the same unconfined server sampled twice with nothing changed.
func BenchmarkOpenClose(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("root missing: the fixture's helpers run as in the suite")
	}
	if err := (LandlockSeccomp{}).Available(); err != nil {
		b.Skip(err)
	}
	e := NewEnv(b, suiteHelper(b), false)
	servers := map[string]*benchProc{}
	modes := []string{benchUnconfined, benchLandlock, benchLandlockSeccomp}
	for _, mode := range modes {
		servers[mode] = startBenchProc(b, e, roleBench, mode, "ready")
	}
	var landlockRatio, bothRatio, besideRatio, noise []float64
	var unconfinedNs []float64
	b.ResetTimer()
	for i := range b.N {
		ns := map[string]float64{}
		for j := range modes { // rotate the order each round
			mode := modes[(i+j)%len(modes)]
			ns[mode] = servers[mode].sample(b)
		}
		before := servers[benchUnconfined].sample(b)
		hold := startBenchProc(b, e, roleHold, "", "held")
		beside := servers[benchUnconfined].sample(b)
		hold.stop(b)
		after := servers[benchUnconfined].sample(b)

		u := ns[benchUnconfined]
		unconfinedNs = append(unconfinedNs, u)
		landlockRatio = append(landlockRatio, ns[benchLandlock]/u)
		bothRatio = append(bothRatio, ns[benchLandlockSeccomp]/u)
		besideRatio = append(besideRatio, beside/((before+after)/2))
		noise = append(noise, after/before)
	}
	b.StopTimer()
	for _, s := range servers {
		s.stop(b)
	}
	b.ReportMetric(median(unconfinedNs), "unconfined-ns/op")
	b.ReportMetric(median(landlockRatio), "landlock/unconfined")
	b.ReportMetric(median(bothRatio), "landlock+seccomp/unconfined")
	b.ReportMetric(median(besideRatio), "beside-confined/unconfined")
	b.ReportMetric(median(noise), "noise:after/before")
	b.ReportMetric(0, "ns/op") // a round's wall time is not a per-op figure
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

type benchProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startBenchProc(b *testing.B, e *Env, role, mode, hello string) *benchProc {
	b.Helper()
	cmd := helperCommand(e, e.Helper, role, []string{envBenchMode + "=" + mode})
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &benchProc{cmd: cmd, in: in, out: bufio.NewReader(out)}
	b.Cleanup(func() { cmd.Process.Kill() })
	if line, err := p.out.ReadString('\n'); err != nil || strings.TrimSpace(line) != hello {
		b.Fatalf("%s %s: said %q, %v", role, mode, line, err)
	}
	return p
}

func (p *benchProc) sample(b *testing.B) float64 {
	b.Helper()
	if _, err := fmt.Fprintln(p.in, pairsPerSample); err != nil {
		b.Fatal(err)
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		b.Fatalf("bench server: %v", err)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(line), 64)
	if err != nil {
		b.Fatalf("bench server said %q", line)
	}
	return ns
}

func (p *benchProc) stop(b *testing.B) {
	b.Helper()
	p.in.Close()
	if err := p.cmd.Wait(); err != nil {
		b.Fatalf("bench process: %v", err)
	}
}
