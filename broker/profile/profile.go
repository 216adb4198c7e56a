// Package profile holds the grants `capfd run` gives before the user's: the
// default profile, the least a dynamically linked program needs to start
// and run on a glibc system plus the read-only system data common tools
// read, and named profiles (`--profile NAME`) for toolchains and for what
// is safe only when asked for. Everything else must be granted explicitly.
package profile

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/capfd/capfd/broker/notify"
	"github.com/capfd/capfd/rights"
)

// Entry is one grant of a profile and the reason it is there.
type Entry struct {
	// Path is a clean absolute path, or a filepath.Match pattern
	// ("/usr/local/lib/python3*") expanded when the profile is granted:
	// each existing match is granted, and none at all when nothing matches.
	Path   string
	Rights string // rights.ParsePair syntax
	Why    string
}

// Profile is a named set of entries.
type Profile struct {
	Name    string
	Summary string // one line for `capfd run --help`
	// Note is what the profile deliberately leaves out, and why.
	Note    string
	Entries []Entry
}

// DefaultEntries is the documented default profile. Every entry is
// optional: a path this system lacks is skipped (and, if the program asks
// for it, reported missing rather than refused). Every entry but /dev/null
// is read-only.
var DefaultEntries = []Entry{
	{"/lib", "rx", "the dynamic loader and shared libraries (ld.so resolves them here; on merged-/usr systems it is /usr/lib)"},
	{"/lib64", "rx", "the ELF interpreter path of x86-64 programs (/lib64/ld-linux-x86-64.so.2)"},
	{"/usr/lib", "rx", "shared libraries, gconv modules, locale data (/usr/lib/locale); also what toolchains keep there: gcc's cc1 and crt files, python3.*, git-core, node_modules"},
	{"/usr/lib64", "rx", "shared libraries on multilib systems"},
	{"/usr/libexec", "rx", "helper programs that libraries run"},
	{"/bin", "rx", "programs a shell runs"},
	{"/usr/bin", "rx", "programs a shell runs"},
	{"/usr/share", "ro", "architecture-independent data, all of it public: locale.alias and message catalogues, zoneinfo (where /etc/localtime points), ca-certificates, perl modules, git-core templates, terminfo, mime types"},
	{"/usr/include", "ro", "C headers: public, read-only, what any compile reads"},
	{"/etc/ld.so.cache", "ro", "the loader's library index"},
	{"/etc/ld.so.preload", "ro", "the loader checks it on every start; usually missing (then: ENOENT, not a refusal)"},
	{"/etc/localtime", "ro", "the local time zone (libc's tzset); a symlink into /usr/share/zoneinfo"},
	{"/etc/locale.alias", "ro", "where Debian's /usr/share/locale/locale.alias points"},
	{"/etc/passwd", "ro", "user names, home directories and shells for ls -l, tar, id, whoami (getpwuid); holds no password hashes: those are in /etc/shadow, never granted"},
	{"/etc/group", "ro", "group names for ls -l and tar (getgrgid); no passwords (those are in /etc/gshadow, never granted)"},
	{"/etc/nsswitch.conf", "ro", "tells libc where getpwuid and getgrgid look (files)"},
	{"/etc/alternatives", "ro", "the symlink farm behind /usr/bin/cc, java, editor, ...: each link is followed to its target, which is then matched against the grants (targets under /usr are granted above)"},
	{"/etc/ssl/certs", "ro", "the public CA certificates TLS clients verify against (symlinks into /usr/share/ca-certificates); not /etc/ssl whole, whose private/ holds keys"},
	{"/etc/ssl/openssl.cnf", "ro", "OpenSSL's configuration, read when a TLS client starts"},
	{"/dev/null", "lookup,read,write,append,truncate,stat,readlink,seek", "the universal sink: \"> /dev/null\" opens it O_WRONLY|O_CREAT|O_TRUNC; writable, and nothing written is kept"},
	{"/dev/zero", "ro", "zero bytes"},
	{"/dev/urandom", "ro", "randomness for libc and language runtimes"},
	{"/dev/random", "ro", "randomness (blocking variant, same data on modern kernels)"},
}

// Nothing under /proc is granted: the supervisor would resolve
// /proc/self as itself, so procfs cannot be granted at all (see
// broker/notify). glibc needs none of it to start; /proc/self/fd/N
// re-opens, the classic upgrade path, are refused with everything else.
//
// Nor is any place every process can write (/tmp, /dev/shm): capability
// mode has no global namespaces, and a shared writable directory is one.
// posix-shm grants /dev/shm to whoever asks, with that caveat.

// Named are the profiles `capfd run --profile NAME` adds to the default
// one. They extend it: none repeats a default entry (TestNamedProfiles).
var Named = []Profile{
	{
		Name:    "dev",
		Summary: "make and the C toolchain (cc, gcc, as, ld)",
		Note: "The compiler writes its temporary files in $TMPDIR (/tmp when unset), which no profile grants: " +
			"give it a directory of its own, --env TMPDIR=DIR --grant DIR=rw. " +
			"/usr/include, /usr/lib/gcc and /etc/alternatives (cc) are in the default profile.",
		Entries: []Entry{
			{"/usr/local/include", "ro", "gcc's include search path; a refused (not missing) include directory is an error to cc1"},
			{"/usr/x86_64-linux-gnu", "rx", "gcc's target directory (usually missing): probed for specs, include/, bin/as, and an error to cc1 when refused"},
			{"/usr/local/lib", "rx", "locally built libraries the linker may be pointed at"},
			{"/usr/local/bin", "rx", "locally installed tools a Makefile runs"},
			{"/etc/ld.so.conf", "ro", "ld reads the library search path from it to resolve DT_NEEDED"},
			{"/etc/ld.so.conf.d", "ro", "the files /etc/ld.so.conf includes"},
		},
	},
	{
		Name:    "python",
		Summary: "python3 and the packages installed system-wide",
		Note: "/usr/lib/python3* (Debian's python) is in the default profile. " +
			"A pyenv, venv or pip --user tree under $HOME is the user's and not granted: " +
			"--grant ~/.pyenv=rx (and run its python by path: the shims in PATH are shell scripts that need more).",
		Entries: []Entry{
			{"/usr/local/lib/python3*", "rx", "python built from source or pip-installed system-wide: modules and C extensions (mapped executable, hence rx)"},
			{"/usr/local/bin", "rx", "python3 built from source, and the scripts pip installs"},
			{"/etc/python3*", "ro", "Debian's sitecustomize.py, which site.py imports at start"},
		},
	},
	{
		Name:    "node",
		Summary: "node and the packages installed globally (npm -g)",
		Note: "/usr/lib/node_modules and /usr/share/nodejs (Debian's node) are in the default profile; " +
			"~/.npm, ~/.nvm and a project's node_modules are the user's to grant.",
		Entries: []Entry{
			{"/usr/local/lib/node_modules", "rx", "npm -g packages of a node installed from nodejs.org; native addons are mapped executable, hence rx"},
			{"/usr/local/bin", "rx", "node and npm installed from nodejs.org, and the commands npm -g installs"},
			{"/usr/local/include/node", "ro", "node's headers, read by node-gyp"},
		},
	},
	{
		Name:    "go",
		Summary: "the Go toolchain of a tarball install (GOROOT /usr/local/go)",
		Note: "go finds GOROOT through /proc/self/exe, which is refused: set it, --env GOROOT=/usr/local/go. " +
			"The build cache is not granted: go trusts what it finds there, so a confined program that could write " +
			"~/.cache/go-build could plant code in later builds run outside capfd. Give builds a cache of their own: " +
			"--env GOCACHE=DIR --env TMPDIR=DIR2 --grant DIR=rw --grant DIR2=rw. The module cache ($HOME/go/pkg/mod) is the user's: " +
			"--grant $HOME/go/pkg/mod=ro for offline builds. /usr/lib/go* (Debian's golang) is in the default profile.",
		Entries: []Entry{
			{"/usr/local/go", "rx", "GOROOT: the go command, the compiler and linker (pkg/tool), the standard library's sources"},
		},
	},
	{
		Name:    "git",
		Summary: "git's system-wide configuration",
		Note: "git-core's templates (/usr/share/git-core), helpers (/usr/lib/git-core), perl and the CA certificates are in the default profile. " +
			"~/.gitconfig and ~/.config/git are the user's to grant (git treats a refused ~/.gitconfig as absent, and warns about a refused ~/.config/git/ignore); the repository too.",
		Entries: []Entry{
			{"/etc/gitconfig", "ro", "git's system configuration (git config --system)"},
			{"/etc/gitattributes", "ro", "git's system attributes"},
		},
	},
	{
		Name:    "posix-shm",
		Summary: "POSIX semaphores and shared memory (sem_open, shm_open): /dev/shm writable",
		Note: "Never in the default profile: /dev/shm is one writable directory every process on the host shares " +
			"(a global IPC namespace, which capability mode forbids). A program granted it can meet, read and signal " +
			"programs outside the sandbox through a guessed name, and fill the tmpfs.",
		Entries: []Entry{
			{"/dev/shm", "rw", "sem_open and shm_open create, map, link and unlink files here: writable, and shared with the whole host (see the note)"},
		},
	},
}

// Lookup finds the named profile. An unknown name's error lists the known
// ones.
func Lookup(name string) (*Profile, error) {
	for i := range Named {
		if Named[i].Name == name {
			return &Named[i], nil
		}
	}
	return nil, fmt.Errorf("unknown profile %q (known: %s)", name, strings.Join(Names(), ", "))
}

// Names lists the named profiles.
func Names() []string {
	out := make([]string, len(Named))
	for i, p := range Named {
		out[i] = p.Name
	}
	return out
}

// Default returns DefaultEntries as grants.
func Default() []notify.Grant {
	return grants(DefaultEntries)
}

// Grants returns the grants of a profile: the default one unless
// noDefault, then the named profiles in order, each entry optional and
// each pattern expanded. A path listed twice is granted once with the
// union of the rights. A path the user grants (user) is left to the
// user's grant, which then decides alone, narrower or wider: the user's
// word is the last.
func Grants(noDefault bool, names []string, user []notify.Grant) ([]notify.Grant, error) {
	var entries []Entry
	if !noDefault {
		entries = append(entries, DefaultEntries...)
	}
	for _, name := range names {
		p, err := Lookup(name)
		if err != nil {
			return nil, err
		}
		entries = append(entries, p.Entries...)
	}
	userPaths := map[string]bool{}
	for _, g := range user {
		userPaths[filepath.Clean(g.Path)] = true
	}
	var out []notify.Grant
	at := map[string]int{}
	for _, g := range grants(entries) {
		if userPaths[g.Path] {
			continue
		}
		if i, ok := at[g.Path]; ok {
			out[i].Rights.Base = out[i].Rights.Base.Union(g.Rights.Base)
			out[i].Rights.Inherit = out[i].Rights.Inherit.Union(g.Rights.Inherit)
			continue
		}
		at[g.Path] = len(out)
		out = append(out, g)
	}
	return out, nil
}

// grants turns entries into optional grants, expanding patterns.
func grants(entries []Entry) []notify.Grant {
	out := make([]notify.Grant, 0, len(entries))
	for _, e := range entries {
		r := mustPair(e.Rights)
		for _, p := range expand(e.Path) {
			out = append(out, notify.Grant{Path: p, Rights: r, Optional: true})
		}
	}
	return out
}

// IsPattern reports whether an entry's path is a pattern.
func IsPattern(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// expand is p itself, or the sorted matches of the pattern p.
func expand(p string) []string {
	if !IsPattern(p) {
		return []string{p}
	}
	m, _ := filepath.Glob(p) // the only error is a bad pattern: TestNamedProfiles
	slices.Sort(m)
	return m
}

func mustPair(s string) rights.Pair {
	p, err := rights.ParsePair(s)
	if err != nil {
		panic("profile: bad rights " + s + ": " + err.Error())
	}
	return p
}

// Sensitive are paths no profile may grant, nor a directory above them
// (TestNoSecrets), and that learned grants never widen into (capfd run
// --learn): secrets, the users' homes, and places every process shares
// writable. Exempt names the one profile that may grant a path, with its
// caveat.
var Sensitive = []struct{ Path, Exempt string }{
	{"/etc/shadow", ""}, {"/etc/shadow-", ""}, {"/etc/gshadow", ""}, {"/etc/gshadow-", ""},
	{"/etc/security/opasswd", ""}, {"/etc/sudoers", ""}, {"/etc/sudoers.d", ""},
	{"/etc/ssh/ssh_host_ed25519_key", ""}, {"/etc/ssl/private", ""}, {"/etc/krb5.keytab", ""},
	{"/etc/machine-id", ""}, {"/etc/credstore", ""}, {"/var/lib/sss", ""},
	{"/root", ""}, {"/home", ""}, {"/run", ""}, {"/var/run", ""}, {"/var/lib", ""},
	{"/proc", ""}, {"/sys", ""}, {"/dev/mem", ""}, {"/dev/kmsg", ""}, {"/dev/tty", ""},
	{"/tmp", ""}, {"/var/tmp", ""}, {"/dev/shm", "posix-shm"},
	{"/usr/local/etc", ""}, // local daemons' configuration, perhaps with credentials
}
