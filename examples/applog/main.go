// Command applog appends the lines it reads on stdin to a log file that
// it can only append to.
//
// It holds the log through a capability with the append right and neither
// write nor truncate: through capfd, it cannot open the log for writing
// anywhere but the end, truncate it, write at an offset, re-open it with
// more access, or remove or replace it. That is the library's guarantee,
// for code that goes through capfd.
//
// With -confine it also asks the kernel to hold it to that (Landlock and
// seccomp, from broker/landlock and broker/seccomp) before it opens the
// log, so that code in the process making raw system calls — re-opening
// /proc/self/fd/N read-write, truncating through it, removing the log —
// is refused too. See confine for what the kernel layer on a host
// without BPF LSM does not cover.
//
// Usage:
//
//	applog -dir DIR [-name app.log] [-confine] < lines
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"time"
)

func main() {
	dir := flag.String("dir", ".", "log directory")
	name := flag.String("name", "app.log", "log file name, in -dir")
	confined := flag.Bool("confine", false, "confine this process with Landlock and seccomp first")
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
	lg, err := OpenLogger(*dir, *name)
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
