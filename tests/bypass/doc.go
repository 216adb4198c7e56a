// Package bypass is capfd's adversarial suite for the kernel layer: one
// catalogue of attacks on capability confinement, run against every kernel
// backend (Landlock + seccomp here, BPF LSM in broker/lsm).
//
// Each attack runs twice, each time in a fresh fixture (Env) and a fresh
// re-exec of the test binary: once unconfined, where it must SUCCEED (so the
// attack is real and the fixture right), and once confined by the backend,
// where it must FAIL, unless the backend lists it in Gaps, in which case it
// must still succeed so the gap table stays true. docs/kernel-enforcement.md
// carries the tables.
//
// The protocol between the test (parent) and its child:
//
//	parent                              child (TestHelperChild)
//	NewEnv: build the fixture
//	start child in a new mount ns  -->  open the granted fds (Env.open)
//	                               <--  "ready" on fd 4
//	Backend.ConfineChild(pid)
//	"go" on fd 3                   -->  Backend.ConfineSelf(grants)
//	                                    run the attack
//	read one JSON Result           <--  print it on stdout, exit 0
//
// A backend registers itself with Register from an init function, so the
// child finds it by the name in its environment.
package bypass
