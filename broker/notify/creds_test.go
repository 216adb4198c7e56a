package notify

import (
	"os"
	"slices"
	"testing"
)

// parseStatus reads the credential fields of /proc/TID/status: real and
// filesystem ids (the 1st and 4th fields), groups, permitted and effective
// capabilities, umask; and refuses a status missing any of them.
func TestParseStatus(t *testing.T) {
	const status = "Name:\tcat\nUmask:\t0027\nState:\tS (sleeping)\n" +
		"Uid:\t1000\t65534\t0\t65533\nGid:\t100\t200\t300\t400\nFDSize:\t64\n" +
		"Groups:\t4 24 27 \nNStgid:\t1\nCapInh:\t0000000000000000\n" +
		"CapPrm:\t000001ffffffffff\nCapEff:\t0000000000000002\nCapBnd:\t000001ffffffffff\n"
	var cr taskCreds
	if !parseStatus([]byte(status), &cr) {
		t.Fatal("parseStatus refused a complete status")
	}
	want := taskCreds{ruid: 1000, rgid: 100, fsuid: 65533, fsgid: 400, groups: []uint32{4, 24, 27}, prm: 0x1ffffffffff, eff: 2, umask: 0o027}
	if cr.ruid != want.ruid || cr.rgid != want.rgid || cr.fsuid != want.fsuid || cr.fsgid != want.fsgid ||
		!slices.Equal(cr.groups, want.groups) || cr.prm != want.prm || cr.eff != want.eff || cr.umask != want.umask {
		t.Errorf("parseStatus = %+v, want %+v", cr, want)
	}
	if !parseStatus([]byte("Umask:\t0022\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\nCapPrm:\t0\nCapEff:\t0\n"), &cr) || len(cr.groups) != 0 {
		t.Errorf("no groups: %+v", cr)
	}
	for _, bad := range []string{
		"Umask:\t0022\nUid:\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\nCapPrm:\t0\nCapEff:\t0\n",       // 3 uids
		"Umask:\t0022\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapPrm:\t0\nCapEff:\t0\n",               // no groups
		"Umask:\t0022\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t1 x\nCapPrm:\t0\nCapEff:\t0\n", // bad group
		"Umask:\t0022\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\nCapPrm:\t0\n",                // no CapEff
	} {
		if parseStatus([]byte(bad), &cr) {
			t.Errorf("parseStatus accepted %q", bad)
		}
	}
}

// The supervisor's own /proc/self/status parses, and says what the
// per-thread calls say.
func TestParseOwnStatus(t *testing.T) {
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		t.Skip(err)
	}
	var cr taskCreds
	if !parseStatus(b, &cr) {
		t.Fatalf("cannot parse our own status:\n%s", b)
	}
	groups, errno := getgroups()
	eff, prm, _, errno2 := capget()
	if errno != 0 || errno2 != 0 {
		t.Fatal(errno, errno2)
	}
	if cr.fsuid != getfsuid() || cr.fsgid != getfsgid() || cr.ruid != uint32(os.Getuid()) ||
		!slices.Equal(cr.groups, groups) || cr.eff != eff || cr.prm != prm {
		t.Errorf("status %+v; fsuid %d fsgid %d groups %v eff %x prm %x", cr, getfsuid(), getfsgid(), groups, eff, prm)
	}
}
