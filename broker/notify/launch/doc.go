// Package launch runs an unmodified program in capability mode: it is the
// launch sequence of `capfd run`, as a library. cmd/capfd parses flags and
// grants into an Options and calls Run; everything between that and the
// program's exit status is here.
//
// The name says what the package adds to its parent: notify is the
// supervisor, which answers a confined program's path syscalls once it
// holds the program's seccomp listener; launch is how a program comes to
// be confined and supervised at all: the processes, the order of the
// kernel layers, and who waits for whom. It lives beneath notify because
// it is notify's one client and speaks its protocol (FilterFor, SendFd,
// RecvFd); it stays out of notify so that the supervisor remains a library
// about notifications, free of process management.
//
// # The process tree
//
//	launcher (Run: supervisor; embedded broker)
//	└── stage 2        the same binary, re-executed; confined;
//	    │              init of a new PID namespace
//	    └── PROG       confined; pid 2 in the namespace
//	        └── ...    inherit the confinement
//
// Each stage, and why it is there:
//
//  1. The launcher (Run, run_linux.go) builds the Supervisor from the
//     grants, becomes a child subreaper (orphans are reaped, zombies would
//     keep the filter alive), and re-executes its own binary as stage 2
//     with a control socket, the configuration in the environment and the
//     parent-death signal. It re-executes itself rather than forking
//     because the kernel layers are installed on the calling thread and
//     inherited by exec; a Go process cannot fork and go on running Go.
//  2. Stage 2 is started in a session of its own (capability mode: where
//     the standard streams are the caller's terminal, with a relayed
//     pseudo-terminal of its own, pty_linux.go) as the init of a new PID namespace
//     (treeContainment, pidns_linux.go), inside a user namespace without
//     CAP_SYS_ADMIN, with none where the kernel allows neither (a warning
//     then says descendants may outlive a killed launcher). When the init
//     of a namespace dies the kernel kills everything in it, so nothing the
//     program starts can outlive the launcher, however it detaches.
//  3. Stage 2 (MaybeStage2, stage2_linux.go) confines itself, in this
//     order: vm.memfd_noexec=2 for the namespace (memfd_linux.go: a copy
//     of a readable file in a memfd is out of Landlock's reach); Landlock
//     (exec restricted to granted programs, checked in the kernel against
//     the file executed; before the filter, since its own setup opens the
//     granted paths, which the filter would send to a supervisor not yet
//     serving); the seccomp filter with user notification, whose listener
//     it hands to the launcher over the control socket.
//  4. The launcher marks stage 2 for the BPF LSM where the kernel has it
//     (lsm_linux.go), starts serving the listener, forwards SIGTERM and
//     SIGHUP, and sends the go-ahead: nothing of the program runs before
//     someone answers its path syscalls.
//  5. Stage 2 drops every capability (caps_linux.go: a privileged program
//     could work around any rule on paths), and then, as the namespace's
//     init, starts the program as its child and reaps the namespace
//     (init_linux.go: an init ignores signals it has no handler for, so a
//     program as pid 1 could not be killed as it can natively); without a
//     namespace it execs the program itself.
//  6. When the last process of the tree is gone the launcher reaps stage 2,
//     whose status is the program's (128+N for a signal), lets the
//     supervisor's workers return (within serveGrace) and returns it.
//
// Capability-aware code in the program gets a broker connection on fd 4
// (CAPFD_BROKER_FD, broker_linux.go): an embedded broker serving the
// user's directory grants, or Options.BrokerSocket.
//
// # The stage-2 hook
//
// Stage 2 is the running binary re-executed with argv[1] set to a hidden
// verb, so every binary that calls Run, a test binary included, must call
// MaybeStage2 first thing in main (or TestMain). Run refuses to start if
// MaybeStage2 was never called, rather than re-execute a binary that would
// not recognise the verb.
//
// # What Run does to the calling process
//
// Run is meant for a process that launches one program at a time, as
// `capfd run` does. While it runs it waits for every child of the process
// (orphans of the program are indistinguishable from the caller's own
// children), and it survives SIGINT and SIGQUIT and forwards SIGTERM and
// SIGHUP to the program. The calling process stays a child subreaper
// afterwards.
//
// Exit statuses follow the shell's: the program's own; 126 when the
// sandbox could not be set up; 127 when the program could not be found or
// executed.
package launch
