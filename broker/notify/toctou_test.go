package notify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// naiveServe is how NOT to write a supervisor: it checks the path it reads
// and then answers SECCOMP_USER_NOTIF_FLAG_CONTINUE, letting the kernel
// run the syscall, which reads the path from the program's memory again.
func naiveServe(allowedPrefix string) func(*Supervisor, int) error {
	return func(_ *Supervisor, listener int) error {
		var req notifReq
		var buf [pathMax]byte
		for {
			if err := recv(listener, &req); err != nil {
				if err == unix.EINTR {
					continue
				}
				if gone, _ := filterOrphaned(listener); gone || err != unix.ENOENT {
					return nil
				}
				continue
			}
			resp := notifResp{ID: req.ID}
			addr := req.Data.Args[1] // openat's path
			p, errno := readString(int(req.Pid), addr, &buf)
			if errno == 0 && strings.HasPrefix(p, allowedPrefix) && !strings.Contains(p, "..") {
				resp.Flags = unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE
			} else {
				resp.Error = -int32(unix.EACCES)
			}
			ioctlPtr(listener, ioctlNotifSend, asPointerTo(&resp))
		}
	}
}

// TestNoCheckThenContinueRace shows the race the supervisor's design
// removes. A thread of the program keeps swapping an allowed path for a
// secret one while another opens it: against a check-then-CONTINUE
// supervisor the secret leaks; against ours it cannot, because the kernel
// never re-reads the program's string.
func TestNoCheckThenContinueRace(t *testing.T) {
	requireNotify(t)
	root := tree(t)
	// Same length, so a swap is a plain overwrite of the buffer.
	allowed := filepath.Join(root, "data", "hello.txt")
	secret := filepath.Join(root, "secret", "s.txt")
	secret = strings.Replace(secret, "/secret/", "/secret/"+strings.Repeat("./", (len(allowed)-len(secret))/2), 1)
	if len(secret) != len(allowed) {
		if err := os.WriteFile(filepath.Join(root, "secret", "s.txtx"), []byte("secret\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		secret += "x"
	}
	if len(secret) != len(allowed) {
		t.Fatalf("could not make equal-length paths: %q %q", allowed, secret)
	}
	step := "race:" + allowed + ":" + secret

	naive, _ := runChildServed(t, grantsFor(root), false, root, naiveServe(filepath.Join(root, "data")+"/"), step)
	if !strings.HasPrefix(naive[0], "leaked") {
		t.Fatalf("the race did not beat even a check-then-CONTINUE supervisor (%s): the test proves nothing here", naive[0])
	}
	ours, _ := runChild(t, grantsFor(root), false, root, step)
	if !strings.HasPrefix(ours[0], "held") {
		t.Fatalf("the secret leaked through the supervisor: %s", ours[0])
	}
	t.Logf("check-then-CONTINUE: %s; capfd: %s", naive[0], ours[0])
}
