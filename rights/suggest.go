package rights

import (
	"sort"
	"strings"
)

// spellings maps names other tools use (chmod's letters, plain words) to
// capfd's spelling of the same rights.
var spellings = map[string]string{
	"r":          "ro",
	"w":          "write",
	"x":          "exec",
	"execute":    "exec",
	"readonly":   "ro",
	"read-only":  "ro",
	"readwrite":  "rw",
	"read-write": "rw",
	"rename":     "rename-from,rename-to",
	"link":       "link-from,link-to",
	"xattr":      "xattr-get,xattr-set",
	"mmap":       "mmap-exec",
	"delete":     "unlink",
	"remove":     "unlink",
	"rm":         "unlink",
	"list":       "readdir",
	"ls":         "readdir",
}

// Suggest returns capfd's spelling of an unknown right name, or "" when
// it has none to offer: chmod-style letters ("rwx" is "rw,rx", "rox" is
// "rx"), a word another tool uses ("execute" is "exec"), or the name or
// group within two typing slips ("raed" is "read").
func Suggest(item string) string {
	item = strings.ToLower(strings.TrimSpace(item))
	if _, ok := groups[item]; ok {
		return item
	}
	if _, ok := ByName(item); ok {
		return item
	}
	if s, ok := spellings[item]; ok {
		return s
	}
	if len(item) >= 2 && strings.Trim(item, "rwxo-") == "" && strings.Contains(item, "r") {
		// Mode letters: w makes it rw, x adds exec (rx).
		switch w, x := strings.Contains(item, "w"), strings.Contains(item, "x"); {
		case w && x:
			return "rw,rx"
		case w:
			return "rw"
		case x:
			return "rx"
		default:
			return "ro"
		}
	}
	// One slip in a short name, two in a longer one: more would make
	// "fly" mean "all".
	slips := 1
	if len(item) > 4 {
		slips = 2
	}
	best, bestDist := "", slips+1
	candidates := append([]string(nil), names[:]...)
	for g := range groups {
		candidates = append(candidates, g)
	}
	sort.Strings(candidates) // ties go the same way every time
	for _, c := range candidates {
		if d := editDistance(item, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and
// transpositions of adjacent letters that make a into b (optimal string
// alignment distance).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
