// Package broker is capfd's privileged file server. It owns the real file
// descriptors; sandboxed clients connect over a SOCK_SEQPACKET Unix socket
// (protocol: package wire), are identified by their kernel credentials and
// a pidfd, receive the directory capabilities their policy grants, and
// then ask for operations by handle number. Every request is checked
// against the handle's rights before any system call, through the same
// capfd code that checks local handles (capfd.Served), and a descriptor is
// passed back only in an access mode the rights allow.
//
// The broker runs standalone (`capfd broker --config broker.yaml`: Serve on
// a listening socket, clients matched against a policy) or embedded in a
// launcher (`capfd run`: ServeConn on one end of a socketpair, with the
// grants given on the command line).
package broker
