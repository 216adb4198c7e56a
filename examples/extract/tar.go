package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"

	"github.com/capfd/capfd/capfd"
)

// extractTar extracts the tar stream r beneath dst. It returns the outcome
// of every entry it reached, and an error if it had to stop early (a
// malformed stream, a limit).
func extractTar(dst *capfd.Dir, r io.Reader, limits Limits) (Result, error) {
	x := newExtractor(dst, limits)
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return x.result, nil
		}
		// ErrInsecurePath (only with GODEBUG=tarinsecurepath=0) is a
		// lexical opinion about the name; the destination capability is
		// what decides, so such entries go through extract like any other.
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			return x.result, fmt.Errorf("reading tar after %d entries: %w", x.entries, err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // metadata for the entries after it, not an entry
		}
		if !x.countEntry() {
			return x.result, fmt.Errorf("%w: more than %d entries; stopped", ErrTooMany, limits.MaxEntries)
		}
		x.extract(tarEntry(hdr, tr))
	}
}

func tarEntry(hdr *tar.Header, data io.Reader) entry {
	e := entry{name: hdr.Name, mode: hdr.FileInfo().Mode().Perm(), size: hdr.Size, linkname: hdr.Linkname}
	switch hdr.Typeflag {
	case tar.TypeReg: // tar.Reader reports the legacy TypeRegA as TypeReg
		e.kind, e.data = kindFile, data
	case tar.TypeDir:
		e.kind = kindDir
	case tar.TypeSymlink:
		e.kind = kindSymlink
	case tar.TypeLink:
		e.kind = kindHardlink
	case tar.TypeChar:
		e.kind, e.typeName = kindOther, "character device"
	case tar.TypeBlock:
		e.kind, e.typeName = kindOther, "block device"
	case tar.TypeFifo:
		e.kind, e.typeName = kindOther, "fifo"
	default:
		e.kind, e.typeName = kindOther, fmt.Sprintf("tar type %q", hdr.Typeflag)
	}
	return e
}
