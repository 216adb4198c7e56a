package broker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigIDsByName: a rule's uid and gid are given by number or by
// name, looked up in the user and group databases; an unknown name is an
// error that names it and matches ErrUnknownID.
func TestConfigIDsByName(t *testing.T) {
	parse := func(match string) (*Match, error) {
		fc, err := ParseFile([]byte("socket: /s\nclients: [{name: a, match: " + match + "}]"))
		if err != nil {
			return nil, err
		}
		p, err := fc.Policy()
		if err != nil {
			return nil, err
		}
		return &p.Rules[0].Match, nil
	}
	for _, tc := range []struct {
		match    string
		uid, gid uint32
	}{
		{"{uid: 33, gid: 4}", 33, 4},
		{`{uid: "33", gid: "4"}`, 33, 4},
		{"{uid: root, gid: root}", 0, 0},
		{"{uid: nobody, gid: nogroup}", 65534, 65534},
	} {
		m, err := parse(tc.match)
		if err != nil {
			t.Errorf("%s: %v", tc.match, err)
			continue
		}
		if m.UID == nil || *m.UID != tc.uid || m.GID == nil || *m.GID != tc.gid {
			t.Errorf("%s: uid %v gid %v, want %d %d", tc.match, m.UID, m.GID, tc.uid, tc.gid)
		}
	}
	if m, err := parse("{exe: /bin/x}"); err != nil || m.UID != nil || m.GID != nil {
		t.Errorf("no uid or gid: %+v, %v; want both unset", m, err)
	}
	for _, tc := range []struct{ match, want string }{
		{"{uid: no-such-user-capfd}", `client "a": uid: user "no-such-user-capfd": unknown user`},
		{"{gid: no-such-group-capfd}", `client "a": gid: group "no-such-group-capfd": unknown group`},
		{"{uid: -1}", `user "-1": unknown user`},
		{"{uid: 4294967296}", `user "4294967296": unknown user`},
	} {
		_, err := parse(tc.match)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrUnknownID) {
			t.Errorf("%s: error %v, want %q matching ErrUnknownID", tc.match, err, tc.want)
		}
	}
}

// TestConfigRelativeGrantPaths: LoadFile takes a relative grant path
// from the configuration file's directory, wherever the broker runs;
// ParseFile, with no file, still refuses one.
func TestConfigRelativeGrantPaths(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "broker.yaml")
	os.WriteFile(cfg, []byte("socket: /s\nclients: [{name: a, grants: [{name: g, path: tree/www, rights: ro}, {name: h, path: /abs, rights: ro}]}]"), 0o600)
	t.Chdir(t.TempDir())
	fc, err := LoadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := fc.Policy()
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Rules[0].Grants[0].Path; got != filepath.Join(dir, "tree/www") {
		t.Errorf("relative grant path resolved to %q, want it beside the config file", got)
	}
	if got := p.Rules[0].Grants[1].Path; got != "/abs" {
		t.Errorf("absolute grant path %q changed", got)
	}
}
