package capmode

import (
	"fmt"
	"os"
	"strings"
)

// KeptEnv are the variables a confined program gets from the caller's
// environment by default: what shells, libcs and runtimes need to behave
// as they do directly (where to find programs, the terminal, the language
// and time zone, who the user is, where temporary files go), and nothing
// that could carry a secret. Everything else the caller has (tokens,
// SSH_AUTH_SOCK, DBUS_SESSION_BUS_ADDRESS, cloud credentials, LD_PRELOAD)
// stays out unless named with --env or kept with --keep-env.
//
// A name ending in "*" keeps every variable with that prefix.
var KeptEnv = []string{
	"PATH", "HOME", "USER", "LOGNAME", "SHELL",
	"TERM", "COLORTERM", "COLUMNS", "LINES", "NO_COLOR",
	"LANG", "LANGUAGE", "LC_*", "TZ",
	"TMPDIR", "PWD",
}

// Environ returns the environment of a program confined in capability
// mode, from the caller's environment: the variables KeptEnv names (all
// of them when keepAll), then each of extra, given as NAME=VALUE (set) or
// NAME (copied from the caller's environment, and absent if the caller
// has none). Later entries replace earlier ones of the same name.
func Environ(caller []string, keepAll bool, extra []string) ([]string, error) {
	var out []string
	set := func(kv string) {
		name, _, _ := strings.Cut(kv, "=")
		for i, have := range out {
			if n, _, _ := strings.Cut(have, "="); n == name {
				out[i] = kv
				return
			}
		}
		out = append(out, kv)
	}
	for _, kv := range caller {
		name, _, ok := strings.Cut(kv, "=")
		if ok && (keepAll || kept(name)) {
			set(kv)
		}
	}
	for _, e := range extra {
		name, _, hasValue := strings.Cut(e, "=")
		if err := validName(name); err != nil {
			return nil, fmt.Errorf("--env %q: %w", e, err)
		}
		if hasValue {
			set(e)
			continue
		}
		if v, ok := lookup(caller, name); ok {
			set(name + "=" + v)
		}
	}
	return out, nil
}

// CallerEnviron is Environ on the calling process's own environment.
func CallerEnviron(keepAll bool, extra []string) ([]string, error) {
	return Environ(os.Environ(), keepAll, extra)
}

func kept(name string) bool {
	for _, k := range KeptEnv {
		if prefix, ok := strings.CutSuffix(k, "*"); ok {
			if strings.HasPrefix(name, prefix) {
				return true
			}
		} else if name == k {
			return true
		}
	}
	return false
}

func lookup(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if n, v, ok := strings.Cut(env[i], "="); ok && n == name {
			return v, true
		}
	}
	return "", false
}

// validName refuses names a shell could not export: empty, or holding a
// byte outside [A-Za-z0-9_], or starting with a digit.
func validName(name string) error {
	if name == "" {
		return fmt.Errorf("empty variable name")
	}
	for i, c := range name {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return fmt.Errorf("%q is not a variable name", name)
		}
	}
	return nil
}
