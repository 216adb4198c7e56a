package capfd

import (
	"errors"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// randomRights returns a random set of known rights, biased towards sets
// of every size.
func randomRights(rng *rand.Rand) rights.Rights {
	a, b, c, d := rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()
	return rights.Rights(a&b|c&d) & rights.All
}

func randomPair(rng *rand.Rand) rights.Pair {
	return rights.Pair{Base: randomRights(rng), Inherit: randomRights(rng)}
}

// TestLimitNeverWidens: for random held and requested rights, Dir.Limit and
// File.Limit succeed exactly when the request lies within what is held, and
// then carry exactly the request.
func TestLimitNeverWidens(t *testing.T) {
	checkNoFdLeak(t)
	rng := rand.New(rand.NewPCG(1, 2))
	root := t.TempDir()
	populate(t, root)
	for range 500 {
		held, asked := randomPair(rng), randomPair(rng)
		if rng.IntN(3) == 0 {
			// Make a third of the requests narrowings, so both outcomes
			// are well exercised.
			asked = asked.Limit(held)
		}
		d := openTestDir(t, root, held)
		got, err := d.Limit(asked)
		within := held.Base.Has(asked.Base) && held.Inherit.Has(asked.Inherit)
		switch {
		case within && err != nil:
			t.Fatalf("Dir.Limit(%s) of %s: %v", asked, held, err)
		case !within && !errors.Is(err, ErrNotCapable):
			t.Fatalf("Dir.Limit(%s) of %s = %v, want ErrNotCapable", asked, held, err)
		case within && got.Rights() != asked:
			t.Fatalf("Dir.Limit(%s) of %s carries %s", asked, held, got.Rights())
		}
		if got != nil {
			got.Close()
		}
		if d.Rights() != held {
			t.Fatalf("Dir.Limit changed the original: %s, was %s", d.Rights(), held)
		}
		d.Close()

		// File.Limit, on a File that carries held.Inherit ∩ FileRights.
		fd := openTestDir(t, root, rights.Pair{Base: rights.Lookup, Inherit: held.Inherit | rights.Lookup})
		f, err := fd.OpenFile("file", unix.O_PATH, 0)
		if err != nil {
			t.Fatal(err)
		}
		fileHeld := f.Rights()
		if !(held.Inherit | rights.Lookup).Has(fileHeld) || fileHeld&^FileRights != 0 {
			t.Fatalf("File through inherit %s carries %s", held.Inherit|rights.Lookup, fileHeld)
		}
		fileAsked := asked.Base
		g, err := f.Limit(fileAsked)
		switch {
		case fileHeld.Has(fileAsked) && (err != nil || g.Rights() != fileAsked):
			t.Fatalf("File.Limit(%s) of %s = %v", fileAsked, fileHeld, err)
		case !fileHeld.Has(fileAsked) && !errors.Is(err, ErrNotCapable):
			t.Fatalf("File.Limit(%s) of %s = %v, want ErrNotCapable", fileAsked, fileHeld, err)
		}
		if g != nil {
			g.Close()
		}
		f.Close()
		fd.Close()
	}
}

// TestInheritCeilingThroughChains opens random chains of directories, each
// asking for random rights, and checks the rules of OpenDir and OpenFile at
// every step: a child is granted exactly what it asked for when that lies
// within its parent's Inherit, and refused otherwise; files opened at any
// depth carry at most the Inherit of the Dir they were opened through.
func TestInheritCeilingThroughChains(t *testing.T) {
	checkNoFdLeak(t)
	rng := rand.New(rand.NewPCG(3, 4))
	root := t.TempDir()
	const depth = 6
	dir := root
	for i := range depth {
		dir += "/d"
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/f", []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var granted, refused, deepest int
	for range 200 {
		start := rights.Pair{Base: randomRights(rng) | rights.Lookup, Inherit: randomRights(rng) | rights.Lookup}
		d := openTestDir(t, root, start)
		var opened []*Dir
		ceiling := start.Inherit
		for range depth {
			asked := randomPair(rng)
			if rng.IntN(5) != 0 {
				asked = asked.Limit(rights.Uniform(ceiling))
			}
			// Keep lookup (when allowed) so that chains can go deep.
			asked.Base |= rights.Lookup & ceiling
			asked.Inherit |= rights.Lookup & ceiling
			child, err := d.OpenDir("d", asked)
			if !ceiling.Has(asked.Base) || !ceiling.Has(asked.Inherit) {
				if !errors.Is(err, ErrNotCapable) {
					t.Fatalf("OpenDir(%s) through inherit %s = %v, want ErrNotCapable", asked, ceiling, err)
				}
				refused++
				break
			}
			if err != nil {
				if !d.Rights().Base.Has(rights.Lookup) && errors.Is(err, ErrNotCapable) {
					break // the parent cannot look up at all
				}
				t.Fatalf("OpenDir(%s) through inherit %s: %v", asked, ceiling, err)
			}
			if child.Rights() != asked {
				t.Fatalf("OpenDir(%s) carries %s", asked, child.Rights())
			}
			opened = append(opened, child)
			granted++
			deepest = max(deepest, len(opened))
			d = child
			ceiling = asked.Inherit

			// A file at this depth carries at most the ceiling.
			if f, err := d.OpenFile("f", unix.O_PATH, 0); err == nil {
				if !ceiling.Has(f.Rights()) {
					t.Fatalf("file through inherit %s carries %s", ceiling, f.Rights())
				}
				f.Close()
			} else if !errors.Is(err, ErrNotCapable) {
				t.Fatal(err)
			}
		}
		// Every Dir in the chain lies within the first one's Inherit.
		for _, c := range opened {
			if !start.Inherit.Has(c.Rights().Base | c.Rights().Inherit) {
				t.Fatalf("a Dir in the chain (%s) exceeds the root's inherit %s", c.Rights(), start.Inherit)
			}
			c.Close()
		}
	}
	// The walk must have gone both ways, and deep, to have tested anything.
	if granted < 100 || refused < 50 || deepest < depth {
		t.Fatalf("granted %d, refused %d, deepest chain %d: the random walk missed cases", granted, refused, deepest)
	}
}
