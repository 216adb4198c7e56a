// Package enforce connects the broker to capfd's kernel layer: it decides at
// start which kernel backends this machine has, loads the BPF LSM programs
// when it can, and, through the broker's OnConnect hook, confines every
// client that connects.
//
// A client is confined by marking its process (through the pidfd the broker
// holds, so a recycled pid can never be marked instead) with a sandbox and
// recording the inodes of the roots its policy grants, with the same
// rights.Pair the broker enforces. From then on the LSM hooks refuse, for
// that process and everything it forks, what the grants do not allow: the
// client cannot talk around the broker by opening files itself, re-opening
// a passed descriptor through /proc/self/fd with more access, and so on.
//
// Connecting is entering capability mode, for good, as cap_enter(2) is in
// Capsicum: when the client's last connection ends its sandbox's grants are
// revoked, but its processes stay marked, with no rights on anything. Were
// they unmarked instead, a compromised client would escape the backstop by
// closing its socket. Processes that never connect are never marked and see
// no change.
//
// Landlock and seccomp are self-imposed (a process can restrict itself, never
// another): they serve `capfd run`, which applies them to the program it
// starts. For the sidecar broker they are reported (available or not, and
// why) but cannot confine a client that merely connects.
//
// Denials the LSM hooks report go to the audit log, one JSON record each, and
// their per-hook counts to Prometheus (see Register).
package enforce
