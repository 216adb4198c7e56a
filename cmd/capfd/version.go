package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

func init() {
	register("version", command{
		summary: "print capfd's module version and VCS revision (also capfd --version)",
		usage:   "",
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) int {
			return runVersionVerb
		},
	})
}

func runVersionVerb(args []string, stdout, stderr io.Writer) int {
	if len(args) != 0 {
		return usageError(stderr, "version", "takes no arguments")
	}
	bi, ok := debug.ReadBuildInfo()
	fmt.Fprint(stdout, versionText(bi, ok))
	return exitOK
}

// runVersion is `capfd --version`: the same as `capfd version`.
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) != 0 {
		fmt.Fprintf(stderr, "capfd: --version takes no arguments\nsee 'capfd --help'\n")
		return exitUsage
	}
	return runVersionVerb(nil, stdout, stderr)
}

// versionText describes a build: the main module's version ("(devel)"
// for a build from a work tree), the VCS revision and time the go
// command stamped (absent under -buildvcs=false, and in test binaries),
// and the Go version.
func versionText(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "capfd: no build information (not built by the go command in module mode)\ngo: " + runtime.Version() + "\n"
	}
	version := bi.Main.Version
	if version == "" {
		version = "(unknown)"
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	var b strings.Builder
	fmt.Fprintf(&b, "capfd %s\n", version)
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, "revision: %s", rev)
		if settings["vcs.modified"] == "true" {
			b.WriteString(" (modified)")
		}
		b.WriteString("\n")
		if t := settings["vcs.time"]; t != "" {
			fmt.Fprintf(&b, "committed: %s\n", t)
		}
	} else {
		b.WriteString("revision: unknown (built without VCS stamping: -buildvcs=false, or not from a checkout)\n")
	}
	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	fmt.Fprintf(&b, "go: %s %s/%s\n", goVersion, settingOr(settings, "GOOS", runtime.GOOS), settingOr(settings, "GOARCH", runtime.GOARCH))
	return b.String()
}

func settingOr(settings map[string]string, key, fallback string) string {
	if v := settings[key]; v != "" {
		return v
	}
	return fallback
}
