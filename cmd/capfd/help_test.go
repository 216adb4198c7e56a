package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// completionScript is `capfd completion SHELL`'s output.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	code, out, stderr := runForTest("completion", shell)
	if code != 0 || stderr != "" {
		t.Fatalf("capfd completion %s: exit %d, %q", shell, code, stderr)
	}
	return out
}

// completionFile writes `capfd completion SHELL` to a file for shell to
// read, and returns its path; the test is skipped without the shell.
func completionFile(t *testing.T, shell string) string {
	t.Helper()
	if _, err := exec.LookPath(shell); err != nil {
		t.Skipf("%s is not installed", shell)
	}
	file := filepath.Join(t.TempDir(), "capfd."+shell)
	if err := os.WriteFile(file, []byte(completionScript(t, shell)), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestCompletionsListEveryVerbAndFlag: each shell's script offers every
// verb, and every flag of every verb (run's above all) in that shell's
// syntax; a shell that is installed accepts the script's syntax.
func TestCompletionsListEveryVerbAndFlag(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			script := completionScript(t, shell)
			for _, verb := range verbNames() {
				var want string
				switch shell {
				case "bash":
					want = "\t" + verb + ")\n"
				case "zsh":
					want = "\t\t'" + verb + ":"
				case "fish":
					want = "-n __fish_use_subcommand -a " + verb + " -d "
				}
				if !strings.Contains(script, want) {
					t.Errorf("the %s completion does not offer %s (%q)", shell, verb, want)
				}
				verbFlags(verb).VisitAll(func(f *flag.Flag) {
					var want string
					switch shell {
					case "bash":
						want = flagName(f)
					case "zsh":
						want = "\t\t\t'" + flagName(f) + ":"
					case "fish":
						opt := "-l " + f.Name
						if len(f.Name) == 1 {
							opt = "-s " + f.Name
						}
						want = "'__fish_seen_subcommand_from " + verb + "' " + opt + " "
					}
					if !strings.Contains(script, want) {
						t.Errorf("the %s completion does not offer %s %s (%q)", shell, verb, flagName(f), want)
					}
				})
			}
			file := completionFile(t, shell)
			if out, err := exec.Command(shell, "-n", file).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", shell, err, out)
			}
		})
	}
}

// TestBashCompletionCompletes runs the bash completion function the way
// bash does on <TAB> and checks what it offers.
func TestBashCompletionCompletes(t *testing.T) {
	file := completionFile(t, "bash")
	complete := func(words ...string) []string {
		t.Helper()
		// compgen -f and -c need a directory to look in: an empty one.
		script := `complete() { :; }; source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _capfd; printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command("bash", append([]string{"-c", script, "bash", file}, words...)...)
		cmd.Dir = t.TempDir()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("completing %q: %v", words, err)
		}
		return strings.Fields(string(out))
	}
	if got, want := strings.Join(complete("capfd", ""), " "), strings.Join(verbNames(), " ")+" --help --version"; got != want {
		t.Errorf("capfd <TAB>: %q, want %q", got, want)
	}
	var runFlags []string
	for _, f := range flagNames("run") {
		if strings.HasPrefix(f, "--") {
			runFlags = append(runFlags, f)
		}
	}
	if got, want := strings.Join(complete("capfd", "run", "--"), " "), strings.Join(append(runFlags, "--help"), " "); got != want {
		t.Errorf("capfd run --<TAB>: %q, want %q", got, want)
	}
	if got := strings.Join(complete("capfd", "run", "--gr"), " "); got != "--grant" {
		t.Errorf("capfd run --gr<TAB>: %q", got)
	}
	if got := strings.Join(complete("capfd", "help", "ru"), " "); got != "run" {
		t.Errorf("capfd help ru<TAB>: %q", got)
	}
	if got := strings.Join(complete("capfd", "completion", "z"), " "); got != "zsh" {
		t.Errorf("capfd completion z<TAB>: %q", got)
	}
	if got := complete("capfd", "run", "--", "bas"); !strings.Contains(" "+strings.Join(got, " ")+" ", " bash ") {
		t.Errorf("capfd run -- bas<TAB>: %q, want the bash command among them", got)
	}
}

// TestManPageIsUpToDate: docs/capfd.1 is what `capfd man` prints, and the
// man page holds each command's --help text (both made from the same
// registrations), so neither can drift from --help.
func TestManPageIsUpToDate(t *testing.T) {
	code, page, stderr := runForTest("man")
	if code != 0 || stderr != "" {
		t.Fatalf("capfd man: exit %d, %q", code, stderr)
	}
	committed, err := os.ReadFile("../../docs/capfd.1")
	if err != nil || string(committed) != page {
		t.Errorf("docs/capfd.1 is not what capfd man prints (%v): regenerate it with\n\tgo run ./cmd/capfd man > docs/capfd.1", err)
	}
	_, top, _ := runForTest("--help")
	if !strings.Contains(page, roff(strings.TrimRight(top, "\n"))) {
		t.Error("the man page does not hold capfd --help")
	}
	for _, verb := range verbNames() {
		_, help, _ := runForTest(verb, "--help")
		if !strings.Contains(page, ".SS capfd "+roff(verb)+"\n.nf\n"+roff(strings.TrimRight(help, "\n"))+"\n.fi\n") {
			t.Errorf("the man page does not hold capfd %s --help", verb)
		}
	}
	if _, err := exec.LookPath("groff"); err != nil {
		t.Skip("no groff to render the page with")
	}
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(page)
	var warnings bytes.Buffer
	cmd.Stderr = &warnings
	if err := cmd.Run(); err != nil || warnings.Len() > 0 {
		t.Errorf("groff -man: %v\n%s", err, warnings.String())
	}
}

// TestFishCompletionCompletes asks fish what it would complete, where fish
// is installed.
func TestFishCompletionCompletes(t *testing.T) {
	file := completionFile(t, "fish")
	for line, want := range map[string]string{
		"capfd run --gr": "--grant",
		"capfd ls --ti":  "--timeout",
		"capfd ver":      "version",
		"capfd help ru":  "run",
	} {
		out, err := exec.Command("fish", "--no-config", "-c", `source $argv[1]; complete -C $argv[2]`, file, line).Output()
		if err != nil {
			t.Fatalf("fish: %v", err)
		}
		firstLine, _, _ := strings.Cut(string(out), "\n")
		if first, _, _ := strings.Cut(firstLine, "\t"); first != want {
			t.Errorf("fish completes %q with %q, want %s first", line, out, want)
		}
	}
}
