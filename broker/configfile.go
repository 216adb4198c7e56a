package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
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
		Name   string `yaml:"name"`
		Match  Match  `yaml:"match"`
		Grants []struct {
			Name   string `yaml:"name"`
			Path   string `yaml:"path"`
			Rights string `yaml:"rights"` // rights.Pair text: "ro", "rw:ro", ...
			// Optional: the directory may appear after the broker
			// starts (until then its clients are refused, told why).
			Optional bool `yaml:"optional"`
		} `yaml:"grants"`
	} `yaml:"clients"`
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
	fc, err := ParseFile(data)
	if err != nil {
		return nil, fmt.Errorf("broker config %s: %w", path, err)
	}
	return fc, nil
}

// ParseFile parses configuration text. Unknown keys are errors, so a typo
// ("grant:" for "grants:") cannot silently grant nothing, or everything.
func ParseFile(data []byte) (*FileConfig, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var fc FileConfig
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
		rule := Rule{Name: name, Match: c.Match}
		for _, g := range c.Grants {
			pair, err := rights.ParsePair(g.Rights)
			if err != nil {
				return Policy{}, fmt.Errorf("client %q: grant %q: rights: %w", name, g.Name, err)
			}
			rule.Grants = append(rule.Grants, Grant{Name: g.Name, Path: g.Path, Rights: pair, Optional: g.Optional})
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
