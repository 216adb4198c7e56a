// Package differential runs one matrix of filesystem operations through
// every enforcement point capfd has (the library's local Dir, the broker's
// served handles, `capfd run` in each mode, Landlock+seccomp alone, and the BPF LSM,
// which the host refuses and TestDifferentialBPFInVM runs in the VM
// guests) and
// checks each answer, and the filesystem effect, against the rights model
// (vfsops.Request.Needs with rights.Pair.Dir and Object). Where a layer
// cannot say what the model says, the difference is declared once, in the
// "Where the layers differ" table of docs/rights-model.md, which the suite
// parses: an undeclared difference fails, and so does a declared one that
// no longer differs.
package differential
