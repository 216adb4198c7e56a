package vfsops

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReadDir(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for i := 0; i < 500; i++ { // more than one getdents buffer
		name := "entry-with-a-longish-name-" + string(rune('a'+i%26)) + "-" + itoa3(i)
		want = append(want, name)
		mustWrite(t, filepath.Join(dir, name), "")
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.Symlink("x", filepath.Join(dir, "link"))
	want = append(want, "sub", "link")
	for _, res := range resolvers {
		fd, err := OpenBeneath(openDir(t, dir), ".", unix.O_RDONLY|unix.O_DIRECTORY, 0, res.how)
		if err != nil {
			t.Fatal(err)
		}
		ents, err := ReadDir(fd)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range ents {
			got = append(got, e.Name)
			wantType := uint8(unix.DT_REG)
			switch e.Name {
			case "sub":
				wantType = unix.DT_DIR
			case "link":
				wantType = unix.DT_LNK
			}
			if e.Type != wantType && e.Type != unix.DT_UNKNOWN {
				t.Errorf("%s: type %d, want %d", e.Name, e.Type, wantType)
			}
			if e.Ino == 0 {
				t.Errorf("%s: inode 0", e.Name)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: ReadDir: %d entries, want %d", res.name, len(got), len(want))
		}
	}
}

func itoa3(i int) string {
	return string([]byte{byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)})
}

// dirent builds one linux_dirent64 record.
func dirent(ino uint64, typ uint8, name string) []byte {
	reclen := (direntNameOff + len(name) + 1 + 7) &^ 7
	rec := make([]byte, reclen)
	binary.NativeEndian.PutUint64(rec[direntInoOff:], ino)
	binary.NativeEndian.PutUint16(rec[direntReclenOff:], uint16(reclen))
	rec[direntTypeOff] = typ
	copy(rec[direntNameOff:], name)
	return rec
}

func TestParseDirents(t *testing.T) {
	good := append(dirent(1, unix.DT_DIR, "."), dirent(42, unix.DT_REG, "file")...)
	for _, tc := range []struct {
		name    string
		buf     []byte
		want    []string
		wantErr bool
	}{
		{"empty", nil, nil, false},
		{"two", good, []string{".", "file"}, false},
		{"truncated-header", good[:len(good)-len(dirent(42, 0, "file"))+5], []string{"."}, true},
		{"reclen-past-end", append(dirent(1, 0, "a"), 0xff, 0xff)[:len(dirent(1, 0, "a"))+2], []string{"a"}, true},
		{"reclen-zero", make([]byte, 24), nil, true},
		{"empty-name", dirent(1, 0, ""), nil, true},
	} {
		var got []string
		err := ParseDirents(tc.buf, func(name string, ino uint64, typ uint8) { got = append(got, name) })
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, %v; want %q, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

// FuzzParseDirents: no input may panic, loop forever, or yield a name with
// a NUL or a slash... except that the kernel never produces those, so only
// the first two are properties of the parser; names are checked to come
// from within the buffer.
func FuzzParseDirents(f *testing.F) {
	f.Add(append(dirent(1, unix.DT_DIR, "."), dirent(42, unix.DT_REG, "file")...))
	f.Add(dirent(7, unix.DT_LNK, "a-much-longer-name-than-usual"))
	f.Add([]byte{})
	f.Add(make([]byte, 19))
	f.Fuzz(func(t *testing.T, buf []byte) {
		total := 0
		ParseDirents(buf, func(name string, ino uint64, typ uint8) {
			total += len(name) + direntNameOff
			if len(name) == 0 {
				t.Fatal("empty name yielded")
			}
		})
		if total > len(buf) {
			t.Fatalf("yielded %d bytes of records from a %d-byte buffer", total, len(buf))
		}
	})
}
