// Package landlock confines a process to the paths it was granted, with the
// access capfd rights allow there, using the Landlock LSM.
//
// Landlock decides on the object actually reached, after every symlink and
// magic link: re-opening an fd through /proc/self/fd/N, truncating through
// it, or exec'ing it through execveat(AT_EMPTY_PATH) is judged against the
// real file's grant. That is why it is the kernel backstop for the
// "upgrade" attacks on hosts without BPF LSM.
//
// Landlock cannot see everything capfd's rights name (see the table in
// access.go): chmod, chown, utimes, xattrs and mounts are refused by
// broker/seccomp instead, and append-only writing stays the broker's job.
//
// Restrict uses github.com/landlock-lsm/go-landlock, which applies the
// ruleset to every OS thread of a Go process (psx before ABI 8, TSYNC
// from 8). Which access bits are handled is decided here, from the running
// ABI, so the Report states exactly what the kernel enforces instead of the
// library's best-effort mode silently dropping to "no Landlock at all".
package landlock
