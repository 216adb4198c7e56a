package main

import (
	"fmt"
	"os"
	"sync"

	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/rights"
)

// logDirRights are the rights on the log directory. Base: find and create
// the log file, stat it. Inherit, and so the ceiling of the log file
// itself: append and stat. No write (which would allow writing anywhere
// in the file, over history), no truncate, no read, no seek; and on the
// directory no unlink or rename, so history cannot be replaced either.
var logDirRights = rights.Pair{
	Base:    rights.Lookup | rights.Create | rights.Stat,
	Inherit: rights.Append | rights.Stat,
}

// Logger appends lines to one log file through an append-only capability.
type Logger struct {
	dir  *capfd.Dir
	file *capfd.File

	mu sync.Mutex // one line, one write(2), so lines never interleave
}

// OpenLogger opens (creating it if need be) the log file name in dir.
func OpenLogger(dir, name string) (*Logger, error) {
	d, err := capfd.OpenDir(dir, logDirRights)
	if err != nil {
		return nil, fmt.Errorf("opening log directory: %w", err)
	}
	return openLog(d, name)
}

// OpenBrokeredLogger opens the log file name in the directory the broker
// granted as grant. The broker holds the descriptors: every append is a
// request, and it never passes this process a descriptor of an append-only
// file (one could clear O_APPEND with fcntl), so no raw system call made
// here can reach the log except through the broker's checks.
func OpenBrokeredLogger(remote *capfd.Remote, grant, name string) (*Logger, error) {
	granted, err := remote.Dir(grant)
	if err != nil {
		return nil, fmt.Errorf("log directory from the broker: %w", err)
	}
	// Hold no more than the logger needs, whatever the grant allows; a
	// grant without these rights fails here, plainly.
	d, err := granted.Limit(logDirRights)
	granted.Close()
	if err != nil {
		return nil, fmt.Errorf("log directory from the broker: %w", err)
	}
	return openLog(d, name)
}

func openLog(d *capfd.Dir, name string) (*Logger, error) {
	// O_APPEND is what the append right allows: every write lands at the
	// end of the file, wherever another writer left it.
	f, err := d.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("opening log: %w", err)
	}
	return &Logger{dir: d, file: f}, nil
}

// Append adds one line to the log.
func (l *Logger) Append(line string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.file.Write([]byte(line + "\n"))
	return err
}

// Close closes the log and its directory.
func (l *Logger) Close() error {
	err := l.file.Close()
	if derr := l.dir.Close(); err == nil {
		err = derr
	}
	return err
}
