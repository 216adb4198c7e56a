package main

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"

	"github.com/capfd/capfd/capfd"
)

// maxSymlinkTarget bounds the data of a zip symlink entry, which is its
// target: PATH_MAX.
const maxSymlinkTarget = 4096

// extractZip extracts the zip archive in ra (size bytes) beneath dst.
// Entries are independent in a zip, so a refused entry's data is never
// even decompressed.
func extractZip(dst *capfd.Dir, ra io.ReaderAt, size int64, limits Limits) (Result, error) {
	x := newExtractor(dst, limits)
	zr, err := zip.NewReader(ra, size)
	// As for tar: ErrInsecurePath is a lexical opinion; the capability
	// decides.
	if err != nil && !(errors.Is(err, zip.ErrInsecurePath) && zr != nil) {
		return x.result, fmt.Errorf("reading zip: %w", err)
	}
	for _, f := range zr.File {
		if !x.countEntry() {
			return x.result, fmt.Errorf("%w: more than %d entries; stopped", ErrTooMany, limits.MaxEntries)
		}
		x.extractZipFile(f)
	}
	return x.result, nil
}

func (x *extractor) extractZipFile(f *zip.File) {
	mode := f.Mode()
	e := entry{name: f.Name, mode: mode.Perm()}
	switch {
	case mode.IsDir():
		e.kind = kindDir
	case mode&fs.ModeSymlink != 0:
		target, err := readZipSymlink(f)
		if err != nil {
			x.refuse(f.Name, err)
			return
		}
		e.kind, e.linkname = kindSymlink, target
	case mode.IsRegular():
		if f.UncompressedSize64 > math.MaxInt64 {
			x.refuse(f.Name, fmt.Errorf("%w: declares %d bytes", ErrTooBig, f.UncompressedSize64))
			return
		}
		e.kind, e.size = kindFile, int64(f.UncompressedSize64)
		if e.size > x.bytesLeft {
			x.extract(e) // refused on its declared size, before opening
			return
		}
		rc, err := f.Open()
		if err != nil {
			x.refuse(f.Name, fmt.Errorf("%w: %w", ErrBadEntry, err))
			return
		}
		defer rc.Close()
		e.data = rc
	default:
		e.kind, e.typeName = kindOther, "zip entry of mode "+mode.Type().String()
	}
	x.extract(e)
}

func readZipSymlink(f *zip.File) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadEntry, err)
	}
	defer rc.Close()
	target, err := io.ReadAll(io.LimitReader(rc, maxSymlinkTarget+1))
	if err != nil {
		return "", fmt.Errorf("%w: reading symlink target: %w", ErrBadEntry, err)
	}
	if len(target) > maxSymlinkTarget {
		return "", fmt.Errorf("%w: symlink target longer than %d bytes", ErrBadEntry, maxSymlinkTarget)
	}
	return string(target), nil
}
