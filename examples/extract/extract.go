package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/rights"
)

// destRights are all the extractor may do to its destination. Rights
// follow the object: the destination's own directory holds Base and every
// directory and file beneath it Inherit. So both halves may make entries
// (files, directories, symlinks, hard links), look them up and stat them,
// and remove a file it was writing when that file broke a limit; Inherit
// adds write, which of all the rights means something only on the files
// it creates. There is no read, no truncate, no rename, no chmod: an
// archive cannot make the extractor do those to anything, inside or out.
var destRights = func() rights.Pair {
	entries := rights.Lookup | rights.Stat | rights.Create | rights.Mkdir | rights.Symlink |
		rights.LinkFrom | rights.LinkTo | rights.Unlink
	return rights.Pair{Base: entries, Inherit: entries | rights.Write}
}()

// openDest opens the destination capability. NoSymlinks makes every path
// the extractor resolves refuse symlinks on the way, including ones the
// archive itself created a moment earlier: a real directory tree never
// needs to write through a symlink, and that is exactly how the
// "symlink, then a file beneath it" attack works. Beneath-resolution
// (always on) refuses "..", absolute names and, for hard links, sources
// outside the destination. So where a name lands is decided by the
// kernel's resolution of the capability, not by string checks.
func openDest(dir string) (*capfd.Dir, error) {
	return capfd.OpenDir(dir, destRights, capfd.NoSymlinks)
}

// Limits bound what one archive may cost: a decompression bomb is refused
// instead of filling the disk or the CPU.
type Limits struct {
	// MaxBytes bounds the entry data written, in total.
	MaxBytes int64
	// MaxEntries bounds the entries read, extracted or refused.
	MaxEntries int
	// MaxDecompressed bounds the bytes a compressed archive may expand
	// to, including the data of refused entries, which must still be
	// decompressed to be skipped.
	MaxDecompressed int64
}

// DefaultLimits are the command's defaults.
var DefaultLimits = Limits{MaxBytes: 1 << 30, MaxEntries: 100_000, MaxDecompressed: 4 << 30}

// Refusal is an entry that was not extracted, and why.
type Refusal struct {
	Name string
	Err  error
}

func (r Refusal) String() string { return fmt.Sprintf("%q: %v", r.Name, r.Err) }

// Result reports every entry: what was extracted and what was refused.
type Result struct {
	Extracted []string
	Refused   []Refusal
}

// Reasons an entry is refused. Each refusal wraps one of these (and the
// error that caused it, where there is one), so tests and callers can
// tell them apart.
var (
	ErrEscapes        = errors.New("path leaves the destination")
	ErrThroughSymlink = errors.New("path goes through a symlink")
	ErrLinkOutside    = errors.New("symlink target leaves the destination")
	ErrParentRefused  = errors.New("an earlier entry for this path or a parent was refused")
	ErrExists         = errors.New("already exists; not overwritten")
	ErrType           = errors.New("entry type not extracted")
	ErrTooBig         = errors.New("over the size limit")
	ErrTooMany        = errors.New("over the entry limit")
	ErrBadEntry       = errors.New("malformed entry")
)

// extractor writes entries beneath dst and keeps the books: the bytes and
// entries left under the limits, and the result.
type extractor struct {
	dst       *capfd.Dir
	bytesLeft int64
	entries   int
	limits    Limits
	refused   map[string]bool
	result    Result
}

func newExtractor(dst *capfd.Dir, limits Limits) *extractor {
	return &extractor{dst: dst, bytesLeft: limits.MaxBytes, limits: limits, refused: map[string]bool{}}
}

// entryKind is what an archive entry makes, whatever the format.
type entryKind int

const (
	kindFile entryKind = iota
	kindDir
	kindSymlink
	kindHardlink
	kindOther // devices, fifos, sockets, anything else
)

// entry is one archive entry, format-independent.
type entry struct {
	name     string
	kind     entryKind
	typeName string      // for messages about kindOther
	mode     fs.FileMode // permission bits
	size     int64       // declared size of a file's data
	linkname string      // symlink target, or hard link source (an archive path)
	data     io.Reader   // a file's data
}

// countEntry counts one more entry; false means the archive has too many
// and extraction must stop.
func (x *extractor) countEntry() bool {
	x.entries++
	return x.entries <= x.limits.MaxEntries
}

// extract makes one entry and records the outcome.
func (x *extractor) extract(e entry) {
	if err := x.make(e); err != nil {
		x.refuse(e.name, err)
		return
	}
	x.result.Extracted = append(x.result.Extracted, e.name)
}

func (x *extractor) refuse(name string, err error) {
	x.refused[strings.TrimSuffix(name, "/")] = true
	x.result.Refused = append(x.result.Refused, Refusal{Name: name, Err: err})
}

func (x *extractor) make(e entry) error {
	name := strings.TrimSuffix(e.name, "/")
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return ErrBadEntry
	}
	if p := x.refusedParent(name); p != "" {
		// The earlier entry was most likely a hostile symlink or hard
		// link; making a directory or file in its place would extract
		// what the archive meant to put somewhere else.
		return fmt.Errorf("%w (%s)", ErrParentRefused, p)
	}
	if e.kind == kindDir {
		return classify(x.mkdirAll(name))
	}
	if err := x.mkdirAll(path.Dir(name)); err != nil {
		return classify(err)
	}
	switch e.kind {
	case kindFile:
		return x.file(name, e)
	case kindSymlink:
		return x.symlink(name, e.linkname)
	case kindHardlink:
		// A hard link's source is another archive path, resolved beneath
		// the destination like any name: "/etc/passwd" or "../x" cannot
		// be linked in, so a later write through the link cannot reach
		// them either.
		return classify(x.dst.Link(e.linkname, nil, name))
	default:
		return fmt.Errorf("%w: %s", ErrType, e.typeName)
	}
}

func (x *extractor) refusedParent(name string) string {
	for p := name; p != "." && p != "/"; p = path.Dir(p) {
		if x.refused[p] {
			return p
		}
	}
	return ""
}

// mkdirAll makes dir and its parents, each beneath the destination.
func (x *extractor) mkdirAll(dir string) error {
	if dir == "." || dir == "" {
		return nil
	}
	if info, err := x.dst.Stat(dir); err == nil {
		if !info.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: unix.ENOTDIR}
		}
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := x.mkdirAll(path.Dir(dir)); err != nil {
		return err
	}
	if err := x.dst.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

func (x *extractor) file(name string, e entry) error {
	if e.size < 0 || e.size > x.bytesLeft {
		return fmt.Errorf("%w: declares %d bytes, %d left of %d", ErrTooBig, e.size, x.bytesLeft, x.limits.MaxBytes)
	}
	// O_EXCL: never overwrite, never follow a final symlink. Set-id and
	// sticky bits are dropped: an archive does not get to make set-uid
	// programs.
	f, err := x.dst.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, e.mode&0o777)
	if err != nil {
		return classify(err)
	}
	// The declared size was checked; the data is still bounded by what is
	// left, in case the format lets it lie (a zip's sizes are claims).
	n, err := io.Copy(f, io.LimitReader(e.data, x.bytesLeft+1))
	x.bytesLeft -= min(n, x.bytesLeft)
	if err != nil {
		err = fmt.Errorf("copying its data: %w", err)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > e.size {
		err = fmt.Errorf("%w: data runs past the declared %d bytes", ErrTooBig, e.size)
	}
	if err != nil {
		// Leave no half-written file that looks extracted.
		if rerr := x.dst.Remove(name); rerr != nil {
			err = fmt.Errorf("%w (and removing the partial file: %v)", err, rerr)
		}
		return err
	}
	return nil
}

// symlink makes name a symlink to target if target stays inside the
// destination. Following it could never leave the destination for a
// capfd reader anyway, but the destination will be read by other
// programs too, and for them "link -> /etc/shadow" is a trap. Because the
// destination refuses every symlink on the way (NoSymlinks), name's
// directory is exactly path.Dir(name), so this lexical check is exact.
func (x *extractor) symlink(name, target string) error {
	if target == "" || path.IsAbs(target) {
		return fmt.Errorf("%w: %q", ErrLinkOutside, target)
	}
	if t := path.Join(path.Dir(name), target); t == ".." || strings.HasPrefix(t, "../") {
		return fmt.Errorf("%w: %q", ErrLinkOutside, target)
	}
	return classify(x.dst.Symlink(target, name))
}

// classify wraps err in the refusal reason it stands for, keeping err.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, capfd.ErrEscape):
		return fmt.Errorf("%w: %w", ErrEscapes, err)
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%w: %w", ErrThroughSymlink, err)
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w: %w", ErrExists, err)
	}
	return err
}
