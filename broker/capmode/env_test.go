package capmode

import (
	"slices"
	"testing"
)

func TestEnviron(t *testing.T) {
	caller := []string{
		"PATH=/usr/bin", "HOME=/root", "LC_ALL=C", "TERM=xterm",
		"AWS_SECRET_ACCESS_KEY=s3cr3t", "SSH_AUTH_SOCK=/run/agent", "LD_PRELOAD=/evil.so",
		"GOPATH=/go", "MALFORMED",
	}
	for _, tc := range []struct {
		name    string
		keepAll bool
		extra   []string
		want    []string
	}{
		{"allow-list only", false, nil, []string{"PATH=/usr/bin", "HOME=/root", "LC_ALL=C", "TERM=xterm"}},
		{"copied by name", false, []string{"GOPATH"}, []string{"PATH=/usr/bin", "HOME=/root", "LC_ALL=C", "TERM=xterm", "GOPATH=/go"}},
		{"set, replacing", false, []string{"PATH=/bin", "FOO=a=b"}, []string{"PATH=/bin", "HOME=/root", "LC_ALL=C", "TERM=xterm", "FOO=a=b"}},
		{"named but absent", false, []string{"NOT_SET"}, []string{"PATH=/usr/bin", "HOME=/root", "LC_ALL=C", "TERM=xterm"}},
		{"keep all", true, []string{"HOME=/tmp"}, []string{"PATH=/usr/bin", "HOME=/tmp", "LC_ALL=C", "TERM=xterm",
			"AWS_SECRET_ACCESS_KEY=s3cr3t", "SSH_AUTH_SOCK=/run/agent", "LD_PRELOAD=/evil.so", "GOPATH=/go"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Environ(caller, tc.keepAll, tc.extra)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Environ = %q\nwant %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "=x", "1A", "A-B", "A B=c"} {
		if _, err := Environ(caller, false, []string{bad}); err == nil {
			t.Errorf("Environ accepted --env %q", bad)
		}
	}
}
