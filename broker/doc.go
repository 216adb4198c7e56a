// Package broker is capfd's privileged file server. It owns the real file
// descriptors; sandboxed clients connect over a SOCK_SEQPACKET Unix socket
// (protocol: package wire), are identified by their kernel credentials and
// a pidfd, receive the directory capabilities their policy grants, and
// then ask for operations by handle number. Every request is checked
// against the handle's rights before any system call, through the same
// capfd code that checks local handles, and a descriptor is passed back
// only in an access mode the rights allow.
//
// The server half of capfd's remote transport is here: Served (served.go,
// served_fd.go) is one handle of a client's table, a thin adapter over a
// local capfd.Dir or capfd.File. The checks and system calls it runs are
// capfd's own Dir and File variants, reached through internal/servebridge;
// what is the broker's (the handles a client holds and the names it knows
// them by, which descriptors may be passed, what a refused mount means,
// whether a handle's I/O may block) is Served's. A client's grants are
// placed against each other by identity (capfd.NewPlaces, Places.Place) so
// that rights follow the object reached.
//
// The broker runs standalone (`capfd broker --config broker.yaml`: Serve on
// a listening socket, clients matched against a policy) or embedded in a
// launcher (`capfd run`: ServeConn on one end of a socketpair, with the
// grants given on the command line).
package broker
