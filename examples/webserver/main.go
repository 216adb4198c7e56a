// Command webserver serves one directory over HTTP through a read-only
// directory capability.
//
// It opens the directory once, at start, with capfd.OpenDir — the only
// ambient path lookup it ever makes — and serves http.FileServerFS over
// the capability's io/fs view. Every request path is then resolved beneath
// that directory by openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS), so
// neither "..", nor an absolute path, nor a symlink planted inside the
// directory (to a file outside it, to "..", to /proc/self/root) can reach
// anything outside, and the capability's rights (read-only) mean no request
// could write even if the handler tried.
//
// With -broker it gets the directory from the broker that capfd run
// provides instead (the grant named by -root's absolute path), and holds
// no descriptor of it at all: every request becomes requests to the broker,
// which checks the rights again on its side.
//
// Usage:
//
//	webserver -root DIR [-addr 127.0.0.1:8080]
//	capfd run --grant DIR=ro -- webserver -broker -root DIR
//
// It prints "serving DIR on http://ADDR/" on stdout once it listens
// (-addr with port 0 picks a free port).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/rights"
)

func main() {
	root := flag.String("root", ".", "directory to serve")
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	brokered := flag.Bool("broker", false, "get -root from the broker capfd run provides (an absolute path, as granted)")
	flag.Parse()
	log.SetPrefix("webserver: ")
	log.SetFlags(0)

	// Read-only both ways: the Dir itself may only look up, stat and list
	// (Base), and every file or subdirectory opened through it gets at most
	// read-only rights (Inherit). "ro" holds no write, create, unlink or
	// truncate, so this handle cannot change the tree whatever the handler
	// does with it.
	readOnly := rights.Pair{Base: rights.ReadOnly, Inherit: rights.ReadOnly}
	var dir *capfd.Dir
	var err error
	if *brokered {
		dir, err = brokeredDir(*root, readOnly)
	} else {
		dir, err = capfd.OpenDir(*root, readOnly)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer dir.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("serving %s on http://%s/\n", *root, ln.Addr())

	srv := &http.Server{
		Handler:           http.FileServerFS(logRefusals{dir.FS()}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.Default(),
	}
	if err := srv.Serve(ln); err != nil {
		log.Fatal(err)
	}
}

// logRefusals logs the requests the capability refused. They need no
// translation: a capfd refusal (not capable, or a path that would escape)
// matches fs.ErrPermission, which http.FileServerFS answers with 403
// Forbidden.
type logRefusals struct{ fsys fs.FS }

func (r logRefusals) Open(name string) (fs.File, error) {
	f, err := r.fsys.Open(name)
	if err != nil && (errors.Is(err, capfd.ErrEscape) || errors.Is(err, capfd.ErrNotCapable)) {
		fmt.Fprintf(os.Stderr, "webserver: refused %q: %v\n", name, err)
	}
	return f, err
}

// brokeredDir returns the directory the launcher's broker granted as name,
// limited to r: the server holds read-only rights even if the grant is
// wider, and a grant without them is an error at start.
func brokeredDir(name string, r rights.Pair) (*capfd.Dir, error) {
	remote, err := capfd.FromEnv()
	if err != nil {
		return nil, fmt.Errorf("-broker: %w (run under capfd run)", err)
	}
	// remote stays open for the life of the server.
	granted, err := remote.Dir(name)
	if err != nil {
		return nil, fmt.Errorf("-broker: %w", err)
	}
	defer granted.Close()
	return granted.Limit(r)
}
