package capfd

import (
	"io"
	"os"
	"testing"

	"github.com/capfd/capfd/rights"
)

// TestReadAtWriteAtWhole: WriteAt writes all it is given at its offset, and
// ReadAt, like os.File.ReadAt, returns fewer bytes than asked only with
// io.EOF itself (io.ReaderAt's contract: a caller compares with ==), both
// across the end of the file and at it.
func TestReadAtWriteAtWhole(t *testing.T) {
	_, d := tree(t, rights.Pair{Base: rights.Lookup, Inherit: rights.Lookup | rights.Read | rights.Write | rights.Seek | rights.Truncate})
	f, err := d.OpenFile("file", os.O_RDWR|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := f.WriteAt([]byte("0123456789"), 2); n != 10 || err != nil {
		t.Fatalf("WriteAt = %d, %v; want 10, nil", n, err)
	}
	buf := make([]byte, 8)
	if n, err := f.ReadAt(buf, 0); n != 8 || err != nil || string(buf) != "\x00\x00012345" {
		t.Fatalf("ReadAt(8 bytes at 0) = %d %q, %v; want 8 %q, nil", n, buf[:n], err, "\x00\x00012345")
	}
	if n, err := f.ReadAt(buf, 6); n != 6 || err != io.EOF || string(buf[:n]) != "456789" {
		t.Fatalf("ReadAt(8 bytes at 6 of 12) = %d %q, %v; want 6 %q, io.EOF", n, buf[:n], err, "456789")
	}
	if n, err := f.ReadAt(buf, 12); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt at the end = %d, %v; want 0, io.EOF", n, err)
	}
}
