// Command applog appends the lines it reads on stdin to a log file that
// it can only append to.
//
// It holds the log through a capability with the append right and neither
// write nor truncate: through capfd, it cannot open the log for writing
// anywhere but the end, truncate it, write at an offset, re-open it with
// more access, or remove or replace it. That is the library's guarantee,
// for code that goes through capfd.
//
// Against code in the process that makes raw system calls instead (a
// compromised logger re-opening /proc/self/fd/N read-write, truncating
// through it, removing the log), there are two ways to run it:
//
//   - -confine: it asks the kernel to hold it to its rights (Landlock and
//     seccomp, from broker/landlock and broker/seccomp) before it opens the
//     log. That refuses all of those, but not writing over history through
//     a descriptor opened without O_APPEND: see confine.
//   - under capfd run, with -broker: the log directory comes from the
//     launcher's broker, which holds the log and appends for it, and never
//     hands over a descriptor of it; the launcher answers the process's
//     path system calls within the grant's rights. Nothing is left open.
//
// Usage:
//
//	applog -dir DIR [-name app.log] [-confine] < lines
//	capfd run --grant DIR=lookup,create,stat:append,stat -- applog -broker -dir DIR < lines
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/capfd/capfd/capfd"
)

func main() {
	dir := flag.String("dir", ".", "log directory")
	name := flag.String("name", "app.log", "log file name, in -dir")
	confined := flag.Bool("confine", false, "confine this process with Landlock and seccomp first")
	brokered := flag.Bool("broker", false, "get -dir from the broker capfd run provides (an absolute path, as granted)")
	flag.Parse()
	log.SetPrefix("applog: ")
	log.SetFlags(0)

	if *confined {
		report, err := confine(*dir)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("confined: %s", report)
	}
	var lg *Logger
	var err error
	if *brokered {
		remote, rerr := capfd.FromEnv()
		if rerr != nil {
			log.Fatalf("-broker: %v (run under capfd run)", rerr)
		}
		defer remote.Close()
		lg, err = OpenBrokeredLogger(remote, *dir, *name)
	} else {
		lg, err = OpenLogger(*dir, *name)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer lg.Close()

	in := bufio.NewScanner(os.Stdin)
	n := 0
	for in.Scan() {
		if err := lg.Append(time.Now().UTC().Format(time.RFC3339) + " " + in.Text()); err != nil {
			log.Fatal(err)
		}
		n++
	}
	if err := in.Err(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("appended %d lines to %s\n", n, *name)
}
