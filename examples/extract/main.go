// Command extract unpacks a tar, tar.gz or zip archive into a directory
// through a directory capability, so that a hostile archive cannot write
// anywhere else.
//
// The destination is opened once with capfd.OpenDir, with the rights to
// make entries and write the files it makes, and nothing else; every entry
// is then created through that capability. Names with "..", absolute
// names, a symlink entry followed by a file "beneath" it, hard links to
// files outside, device nodes: each is refused with its own error, and
// every other entry is still extracted. Limits on the bytes written, on
// the entries, and on how far a compressed archive may expand refuse
// decompression bombs.
//
// Usage:
//
//	extract [-max-bytes N] [-max-entries N] [-max-decompressed N] ARCHIVE DEST
//
// It prints one line per entry ("extracted NAME" or "refused NAME: WHY")
// and a summary. Exit status: 0 if every entry was extracted, 2 if some
// were refused, 1 if extraction stopped early or could not start.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	limits := DefaultLimits
	flag.Int64Var(&limits.MaxBytes, "max-bytes", limits.MaxBytes, "bytes of file data to write, in total")
	flag.IntVar(&limits.MaxEntries, "max-entries", limits.MaxEntries, "entries to read, in total")
	flag.Int64Var(&limits.MaxDecompressed, "max-decompressed", limits.MaxDecompressed, "bytes a compressed archive may expand to")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: extract [flags] ARCHIVE DEST")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(1)
	}

	result, err := run(flag.Arg(0), flag.Arg(1), limits)
	for _, name := range result.Extracted {
		fmt.Printf("extracted %s\n", name)
	}
	for _, r := range result.Refused {
		fmt.Printf("refused %s\n", r)
	}
	fmt.Printf("%d extracted, %d refused\n", len(result.Extracted), len(result.Refused))
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "extract: %v\n", err)
		os.Exit(1)
	case len(result.Refused) > 0:
		os.Exit(2)
	}
}

// run extracts the archive at archivePath into dest.
func run(archivePath, dest string, limits Limits) (Result, error) {
	dst, err := openDest(dest)
	if err != nil {
		return Result{}, err
	}
	defer dst.Close()

	f, err := os.Open(archivePath)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Result{}, err
	}

	br := bufio.NewReader(f)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte("PK\x03\x04")), bytes.HasPrefix(magic, []byte("PK\x05\x06")):
		return extractZip(dst, f, info.Size(), limits)
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return Result{}, fmt.Errorf("reading gzip: %w", err)
		}
		defer zr.Close()
		return extractTar(dst, &expansionLimit{r: zr, left: limits.MaxDecompressed, limit: limits.MaxDecompressed}, limits)
	default:
		return extractTar(dst, br, limits)
	}
}

// errExpansion reports a compressed archive that expands past its limit.
var errExpansion = fmt.Errorf("%w: archive expands past -max-decompressed", ErrTooBig)

// expansionLimit fails a decompressed stream once it passes its limit,
// where io.LimitReader would end it quietly and the tar reader would take
// the truncation for a malformed archive.
type expansionLimit struct {
	r           io.Reader
	left, limit int64
}

func (l *expansionLimit) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a stream of exactly the limit from a longer one.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w (%d bytes)", errExpansion, l.limit)
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
