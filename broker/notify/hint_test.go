package notify

import (
	"testing"

	"github.com/capfd/capfd/rights"
)

func TestGrantSpec(t *testing.T) {
	for _, tc := range []struct {
		abs  string
		n    need
		want string
	}{
		{"/etc/alternatives/cc", need{object: rights.Read}, "/etc/alternatives/cc=ro"},
		{"/usr/local/bin/tool", need{object: rights.Read | rights.Exec}, "/usr/local/bin/tool=rx"},
		{"/srv/out/new.txt", need{object: rights.Write, parent: rights.Create}, "/srv/out=rw"},
		{"/srv/out/sub/", need{parent: rights.Mkdir}, "/srv/out=rw"},
		{"/srv/f", need{object: rights.Chown}, "/srv/f=lookup,chown"},
		{"/proc/self/root/etc/shadow", need{object: rights.Read}, ""},
	} {
		if got := grantSpec(tc.abs, tc.n); got != tc.want {
			t.Errorf("grantSpec(%q, %+v) = %q, want %q", tc.abs, tc.n, got, tc.want)
		}
	}
}
