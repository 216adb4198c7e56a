package notify

import (
	"testing"

	"github.com/capfd/capfd/rights"
)

func TestGrantHint(t *testing.T) {
	for _, tc := range []struct {
		abs  string
		n    need
		want string
	}{
		{"/etc/alternatives/cc", need{object: rights.Read}, "; --grant /etc/alternatives/cc=ro would allow it"},
		{"/usr/local/bin/tool", need{object: rights.Read | rights.Exec}, "; --grant /usr/local/bin/tool=rx would allow it"},
		{"/srv/out/new.txt", need{object: rights.Write, parent: rights.Create}, "; --grant /srv/out=rw would allow it"},
		{"/srv/out/sub/", need{parent: rights.Mkdir}, "; --grant /srv/out=rw would allow it"},
		{"/srv/f", need{object: rights.Chown}, "; --grant /srv/f=lookup,chown would allow it"},
		{"/proc/self/root/etc/shadow", need{object: rights.Read}, "; procfs cannot be granted"},
	} {
		if got := grantHint(tc.abs, tc.n); got != tc.want {
			t.Errorf("grantHint(%q, %+v) = %q, want %q", tc.abs, tc.n, got, tc.want)
		}
	}
}
