package capfd_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/rights"
)

func Example() {
	tmp, _ := os.MkdirTemp("", "capfd-example")
	defer os.RemoveAll(tmp)
	os.WriteFile(tmp+"/notes.txt", []byte("hello\n"), 0o644)

	// The one ambient step: a directory capability that may list, stat and
	// read, and may hand out files that read and append, nothing else.
	dir, err := capfd.OpenDir(tmp, rights.Pair{
		Base:    rights.MustParse("lookup,readdir,stat"),
		Inherit: rights.MustParse("read,append,seek,stat"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer dir.Close()

	data, _ := dir.ReadFile("notes.txt")
	fmt.Printf("read: %q\n", data)

	// Appending is allowed, rewriting is not.
	f, err := dir.OpenFile("notes.txt", os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		f.Write([]byte("more\n"))
		f.Close()
	}
	_, err = dir.OpenFile("notes.txt", os.O_WRONLY, 0)
	fmt.Println("rewrite refused:", errors.Is(err, capfd.ErrNotCapable))

	// Nothing outside the directory can be reached.
	_, err = dir.Open("../../etc/passwd")
	fmt.Println("escape refused:", errors.Is(err, capfd.ErrEscape))

	// Removing needs unlink, which the capability lacks.
	err = dir.Remove("notes.txt")
	fmt.Println(err)

	data, _ = dir.ReadFile("notes.txt")
	fmt.Printf("read: %q\n", data)
	// Output:
	// read: "hello\n"
	// rewrite refused: true
	// escape refused: true
	// capfd: remove notes.txt: not capable: missing unlink (needs lookup,unlink; holds lookup,stat,readdir)
	// read: "hello\nmore\n"
}

func ExampleDir_Limit() {
	tmp, _ := os.MkdirTemp("", "capfd-example")
	defer os.RemoveAll(tmp)

	rw, err := capfd.OpenDir(tmp, rights.Uniform(rights.ReadWrite))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rw.Close()

	// Hand a read-only view to code that should not write.
	ro, _ := rw.Limit(rights.Uniform(rights.ReadOnly))
	defer ro.Close()
	fmt.Println(ro.Rights())

	// Limit never widens.
	_, err = ro.Limit(rights.Uniform(rights.ReadWrite))
	fmt.Println(errors.Is(err, capfd.ErrNotCapable))
	// Output:
	// lookup,read,seek,stat,readlink,readdir,xattr-get,lock
	// true
}

func ExampleDir_FS() {
	tmp, _ := os.MkdirTemp("", "capfd-example")
	defer os.RemoveAll(tmp)
	os.MkdirAll(tmp+"/site/css", 0o755)
	os.WriteFile(tmp+"/site/index.html", []byte("<h1>hi</h1>"), 0o644)
	os.WriteFile(tmp+"/site/css/main.css", []byte("h1{}"), 0o644)

	dir, err := capfd.OpenDir(tmp+"/site", rights.Uniform(rights.ReadOnly))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer dir.Close()

	// Any io/fs consumer (http.FileServerFS, template.ParseFS, fs.WalkDir)
	// now reads through the capability.
	fs.WalkDir(dir.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		fmt.Println(path)
		return nil
	})
	_, err = fs.ReadFile(dir.FS(), "../secret")
	fmt.Println(errors.Is(err, fs.ErrInvalid))
	// Output:
	// .
	// css
	// css/main.css
	// index.html
	// true
}
