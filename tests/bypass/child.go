package bypass

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Environment of a child process.
const (
	envRole    = "CAPFD_BYPASS_ROLE"
	envRoot    = "CAPFD_BYPASS_ROOT"
	envAttack  = "CAPFD_BYPASS_ATTACK"
	envBackend = "CAPFD_BYPASS_BACKEND" // empty: unconfined
	envFd      = "CAPFD_BYPASS_FD"
	envSize    = "CAPFD_BYPASS_SIZE"
)

// Roles a re-exec'd test binary plays.
const (
	roleChild        = "child"         // handshake, confine, attack
	roleAttack       = "attack"        // attack only: a grandchild
	roleExecveat     = "execveat"      // execveat granted/prog, report by exit status
	roleExeOverwrite = "exe-overwrite" // second stage of proc-self-exe-write
	roleBench        = "bench"         // a benchmark server, see bench.go
	roleHold         = "hold"          // confine, then wait for stdin to close
)

// Handshake fds of roleChild: ExtraFiles[0] and [1].
const (
	goFd    = 3 // parent writes "go" after ConfineChild
	readyFd = 4 // child writes "ready" after opening its fds
)

// IsChild reports whether this process was started as a helper by the suite.
func IsChild() bool { return os.Getenv(envRole) != "" }

// ChildMain runs the role named in the environment and returns the exit
// code. TestHelperChild calls it; it never returns to the test framework.
func ChildMain() int {
	e := envAt(os.Getenv(envRoot))
	switch role := os.Getenv(envRole); role {
	case roleChild:
		return report(childAttack(e))
	case roleAttack:
		if err := e.open(); err != nil {
			return report(resultOf(stageSetup, err))
		}
		return report(runAttack(e))
	case roleExecveat:
		return doExecveat(e)
	case roleExeOverwrite:
		return report(resultOf(stageAttack, overwriteExe(e)))
	case roleBench:
		return benchServer(e)
	case roleHold:
		return holdChild(e)
	default:
		fmt.Fprintf(os.Stderr, "bypass: unknown role %q\n", role)
		return 2
	}
}

func childAttack(e *Env) Result {
	if err := e.open(); err != nil {
		return resultOf(stageSetup, err)
	}
	goPipe, ready := os.NewFile(goFd, "go"), os.NewFile(readyFd, "ready")
	if _, err := ready.WriteString("ready\n"); err != nil {
		return resultOf(stageSetup, fmt.Errorf("handshake: %w", err))
	}
	ready.Close()
	line, err := bufio.NewReader(goPipe).ReadString('\n')
	goPipe.Close()
	if err != nil || strings.TrimSpace(line) != "go" {
		return resultOf(stageSetup, fmt.Errorf("handshake: got %q, %v", line, err))
	}
	if name := os.Getenv(envBackend); name != "" {
		b, err := lookupBackend(name)
		if err != nil {
			return resultOf(stageConfine, err)
		}
		if err := b.ConfineSelf(e.Grants()); err != nil {
			return resultOf(stageConfine, fmt.Errorf("%s: ConfineSelf: %w", name, err))
		}
	}
	return runAttack(e)
}

func runAttack(e *Env) Result {
	a, ok := attackByName(os.Getenv(envAttack))
	if !ok {
		return resultOf(stageSetup, fmt.Errorf("no attack named %q", os.Getenv(envAttack)))
	}
	return resultOf(stageAttack, a.Run(e))
}

// report prints v as the child's one JSON line.
func report(v any) int {
	if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
		return 3
	}
	return 0
}

// helperCommand re-execs the test binary at path in role, for e, with
// extra environment on top of this process's.
func helperCommand(e *Env, path, role string, extra []string) *exec.Cmd {
	cmd := exec.Command(path, "-test.run=^TestHelperChild$")
	cmd.Env = withEnv(os.Environ(), append([]string{envRole + "=" + role, envRoot + "=" + e.Root}, extra...))
	return cmd
}

// withEnv returns base with the variables in set replaced or added. It
// removes the old values rather than appending: os/exec would take the
// last duplicate, but a raw execve hands the program both, and Go's getenv
// takes the first.
func withEnv(base, set []string) []string {
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		key, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(set, func(s string) bool { return strings.HasPrefix(s, key+"=") }) {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}
