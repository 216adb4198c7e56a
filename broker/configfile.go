package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/capfd/capfd/rights"
	"go.yaml.in/yaml/v3"
)

// FileConfig is the broker's configuration file (YAML), as read by
// `capfd broker --config`. See examples/broker.yaml.
type FileConfig struct {
	// Socket is the path of the listening SOCK_SEQPACKET socket.
	Socket string `yaml:"socket"`
	// SocketMode is the socket file's permission bits, octal ("0660").
	// Who may connect is decided by the policy; the mode is a first fence.
	SocketMode string `yaml:"socket_mode"`
	// Kernel is the kernel enforcement mode (package broker/enforce):
	// "auto" (the default: BPF LSM when this kernel can load it), "off",
	// or "require" (refuse to start without BPF LSM).
	Kernel string `yaml:"kernel"`
	// IdleTimeout ends a client's connection after this long with no
	// request (Go duration text: "5m", "90s"); "0" never; "" is 5m.
	IdleTimeout string `yaml:"idle_timeout"`

	Metrics struct {
		// Address is host:port for /metrics; empty disables metrics.
		Address string `yaml:"address"`
		// AllowNonLoopback must be set to serve metrics on anything but a
		// loopback address: they reveal which clients do what.
		AllowNonLoopback bool `yaml:"allow_non_loopback"`
	} `yaml:"metrics"`

	Audit struct {
		// Path of the JSON audit log; "" or "-" is standard error.
		Path string `yaml:"path"`
		// AllOperations logs every operation, not only denials.
		AllOperations bool `yaml:"all_operations"`
	} `yaml:"audit"`

	Limits struct {
		MaxHandles  int `yaml:"max_handles"`
		MaxInflight int `yaml:"max_inflight"`
		MaxMessage  int `yaml:"max_message"`
		MaxClients  int `yaml:"max_clients"`
		// Requests that may block in a system call, per client and in
		// all (Limits.MaxBlocking, MaxBlockingTotal).
		MaxBlocking      int `yaml:"max_blocking"`
		MaxBlockingTotal int `yaml:"max_blocking_total"`
	} `yaml:"limits"`

	Clients []struct {
		Name   string    `yaml:"name"`
		Match  FileMatch `yaml:"match"`
		Grants []struct {
			Name string `yaml:"name"`
			// Path is the granted directory: absolute, or relative to
			// the configuration file's directory (LoadFile).
			Path   string `yaml:"path"`
			Rights string `yaml:"rights"` // rights.Pair text: "ro", "rw:ro", ...
			// Optional: the directory may appear after the broker
			// starts (until then its clients are refused, told why).
			Optional bool `yaml:"optional"`
		} `yaml:"grants"`
	} `yaml:"clients"`

	dir string // the file's directory, for relative grant paths; "" from ParseFile
}

// FileMatch is a client rule's match as the configuration file writes it:
// Match, with the uid and gid given by number or by name (looked up in the
// user and group databases when the file is loaded, and again on every
// reload).
type FileMatch struct {
	UID    *UserOrID  `yaml:"uid"`
	GID    *GroupOrID `yaml:"gid"`
	Exe    string     `yaml:"exe"`
	Cgroup string     `yaml:"cgroup"`
}

// UserOrID is a uid, or a user name ("www-data").
type UserOrID string

// GroupOrID is a gid, or a group name ("adm").
type GroupOrID string

// ErrUnknownID is a uid or gid name that the user or group database does
// not know.
var ErrUnknownID = errors.New("unknown")

// resolveID reads a numeric id, or looks a name up with lookup.
func resolveID(text, kind string, lookup func(string) (string, error)) (uint32, error) {
	if n, err := strconv.ParseUint(text, 10, 32); err == nil {
		return uint32(n), nil
	}
	if text == "" {
		return 0, fmt.Errorf("%s: empty", kind)
	}
	id, err := lookup(text)
	var unknownUser user.UnknownUserError
	var unknownGroup user.UnknownGroupError
	switch {
	case errors.As(err, &unknownUser) || errors.As(err, &unknownGroup):
		return 0, fmt.Errorf("%s %q: %w %s", kind, text, ErrUnknownID, kind)
	case err != nil:
		return 0, fmt.Errorf("%s %q: %w", kind, text, err)
	}
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s %q: id %q: %w", kind, text, id, err)
	}
	return uint32(n), nil
}

// match resolves the names in m.
func (m FileMatch) match() (Match, error) {
	out := Match{Exe: m.Exe, Cgroup: m.Cgroup}
	if m.UID != nil {
		uid, err := resolveID(string(*m.UID), "user", func(name string) (string, error) {
			u, err := user.Lookup(name)
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		})
		if err != nil {
			return Match{}, fmt.Errorf("uid: %w", err)
		}
		out.UID = &uid
	}
	if m.GID != nil {
		gid, err := resolveID(string(*m.GID), "group", func(name string) (string, error) {
			g, err := user.LookupGroup(name)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		})
		if err != nil {
			return Match{}, fmt.Errorf("gid: %w", err)
		}
		out.GID = &gid
	}
	return out, nil
}

// maxConfigSize bounds the configuration file: a policy is a few KiB, and a
// bound keeps a mistaken path (a device, a huge log) from being slurped.
const maxConfigSize = 1 << 20

// LoadFile reads and validates a configuration file.
func LoadFile(path string) (*FileConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("broker config %s: %w", path, err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("broker config %s: larger than %d bytes", path, maxConfigSize)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("broker config %s: %w", path, err)
	}
	fc, err := parseFile(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("broker config %s: %w", path, err)
	}
	return fc, nil
}

// ParseFile parses configuration text. Unknown keys are errors, so a typo
// ("grant:" for "grants:") cannot silently grant nothing, or everything.
// Grant paths must be absolute (LoadFile also takes them relative to the
// file).
func ParseFile(data []byte) (*FileConfig, error) { return parseFile(data, "") }

func parseFile(data []byte, dir string) (*FileConfig, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	fc := FileConfig{dir: dir}
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if fc.Socket == "" {
		return nil, errors.New("socket: required")
	}
	if _, err := fc.Mode(); err != nil {
		return nil, err
	}
	if _, err := fc.Policy(); err != nil {
		return nil, err
	}
	switch fc.Kernel {
	case "", "auto", "off", "require":
	default:
		return nil, fmt.Errorf("kernel %q: want auto, off or require", fc.Kernel)
	}
	if _, err := ParseIdleTimeout(fc.IdleTimeout); err != nil {
		return nil, fmt.Errorf("idle_timeout: %w", err)
	}
	return &fc, nil
}

// ParseIdleTimeout reads an idle timeout as Config.IdleTimeout takes it:
// "" is the default, "0" is NoIdleTimeout, anything else a positive Go
// duration.
func ParseIdleTimeout(text string) (time.Duration, error) {
	if text == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(text)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q: want a duration such as \"5m\", or \"0\" for none", text)
	case d < 0:
		return 0, fmt.Errorf("%q: negative", text)
	case d == 0:
		return NoIdleTimeout, nil
	}
	return d, nil
}

// Mode returns the socket's permission bits (0600 by default).
func (fc *FileConfig) Mode() (os.FileMode, error) {
	if fc.SocketMode == "" {
		return 0o600, nil
	}
	m, err := strconv.ParseUint(fc.SocketMode, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("socket_mode %q: want octal permission bits such as \"0660\"", fc.SocketMode)
	}
	return os.FileMode(m), nil
}

// Policy returns the client rules.
func (fc *FileConfig) Policy() (Policy, error) {
	var p Policy
	for i, c := range fc.Clients {
		name := c.Name
		if name == "" {
			name = "#" + strconv.Itoa(i+1)
		}
		match, err := c.Match.match()
		if err != nil {
			return Policy{}, fmt.Errorf("client %q: %w", name, err)
		}
		rule := Rule{Name: name, Match: match}
		for _, g := range c.Grants {
			path := g.Path
			if fc.dir != "" && path != "" && !filepath.IsAbs(path) {
				path = filepath.Join(fc.dir, path)
			}
			pair, err := rights.ParsePair(g.Rights)
			if err != nil {
				return Policy{}, fmt.Errorf("client %q: grant %q: rights: %w", name, g.Name, err)
			}
			rule.Grants = append(rule.Grants, Grant{Name: g.Name, Path: path, Rights: pair, Optional: g.Optional})
		}
		if err := rule.validate(); err != nil {
			return Policy{}, err
		}
		p.Rules = append(p.Rules, rule)
	}
	return p, nil
}

// LimitsConfig returns the configured limits (zero fields take defaults in New).
func (fc *FileConfig) LimitsConfig() Limits {
	l := fc.Limits
	return Limits{MaxHandles: l.MaxHandles, MaxInflight: l.MaxInflight, MaxMessage: l.MaxMessage, MaxClients: l.MaxClients,
		MaxBlocking: l.MaxBlocking, MaxBlockingTotal: l.MaxBlockingTotal}
}
