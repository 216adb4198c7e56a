package rights

// Answer is the statx-style reply to a request for rights: the caller asks
// for a set and learns which of it this build supports, instead of the
// unknown part being dropped or the whole request failing. A newer client
// talking to an older broker thus learns exactly what it cannot have.
type Answer struct {
	Requested Rights `json:"requested"`
	Supported Rights `json:"supported"` // Requested ∩ All
	Unknown   Rights `json:"unknown"`   // Requested \ All
}

// Query answers a request for rights against this build.
func Query(requested Rights) Answer {
	return Answer{
		Requested: requested,
		Supported: requested & All,
		Unknown:   requested.Unknown(),
	}
}

// Complete reports whether every requested right is supported.
func (a Answer) Complete() bool { return a.Unknown == 0 }
