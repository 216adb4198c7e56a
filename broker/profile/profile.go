// Package profile holds the default grants of `capfd run`: the least a
// dynamically linked program needs to start and run on a glibc system.
// Everything else must be granted explicitly.
package profile

import (
	"github.com/capfd/capfd/broker/notify"
	"github.com/capfd/capfd/rights"
)

// Entry is one default grant and the reason it is there.
type Entry struct {
	Path   string
	Rights string // rights.ParsePair syntax
	Why    string
}

// DefaultEntries is the documented default profile. Every entry is
// optional: a path this system lacks is skipped (and, if the program asks
// for it, reported missing rather than refused).
var DefaultEntries = []Entry{
	{"/lib", "rx", "the dynamic loader and shared libraries (ld.so resolves them here; on merged-/usr systems it is /usr/lib)"},
	{"/lib64", "rx", "the ELF interpreter path of x86-64 programs (/lib64/ld-linux-x86-64.so.2)"},
	{"/usr/lib", "rx", "shared libraries, gconv modules, locale data (/usr/lib/locale)"},
	{"/usr/lib64", "rx", "shared libraries on multilib systems"},
	{"/usr/libexec", "rx", "helper programs that libraries run"},
	{"/bin", "rx", "programs a shell runs"},
	{"/usr/bin", "rx", "programs a shell runs"},
	{"/etc/ld.so.cache", "ro", "the loader's library index"},
	{"/etc/ld.so.preload", "ro", "the loader checks it on every start; usually missing (then: ENOENT, not a refusal)"},
	{"/etc/localtime", "ro", "the local time zone (libc's tzset)"},
	{"/etc/locale.alias", "ro", "where Debian's /usr/share/locale/locale.alias points"},
	{"/usr/share/locale", "ro", "locale.alias and message catalogues (setlocale, gettext)"},
	{"/dev/null", "read,write,append,truncate,stat,seek", "the universal sink: \"> /dev/null\" opens it O_WRONLY|O_CREAT|O_TRUNC"},
	{"/dev/zero", "ro", "zero bytes"},
	{"/dev/urandom", "ro", "randomness for libc and language runtimes"},
	{"/dev/random", "ro", "randomness (blocking variant, same data on modern kernels)"},
}

// Nothing under /proc is granted: the supervisor would resolve
// /proc/self as itself, so procfs cannot be granted at all (see
// broker/notify). glibc needs none of it to start; /proc/self/fd/N
// re-opens, the classic upgrade path, are refused with everything else.

// Default returns DefaultEntries as grants.
func Default() []notify.Grant {
	out := make([]notify.Grant, 0, len(DefaultEntries))
	for _, e := range DefaultEntries {
		out = append(out, notify.Grant{Path: e.Path, Rights: mustPair(e.Rights), Optional: true})
	}
	return out
}

func mustPair(s string) rights.Pair {
	p, err := rights.ParsePair(s)
	if err != nil {
		panic("profile: bad rights " + s + ": " + err.Error())
	}
	return p
}
