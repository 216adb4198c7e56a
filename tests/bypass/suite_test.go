package bypass

import (
	"os"
	"testing"
)

// TestHelperChild is not a test: it is the entry point of the suite's
// re-exec'd children (see ChildMain), and returns at once otherwise.
func TestHelperChild(t *testing.T) {
	if !IsChild() {
		return
	}
	os.Exit(ChildMain())
}

func TestLandlockSeccomp(t *testing.T) { RunSuite(t, LandlockSeccomp{}) }

func TestLandlockSeccompIsolation(t *testing.T) { RunIsolation(t, LandlockSeccomp{}) }

func TestLandlockAlone(t *testing.T) { RunSuite(t, landlockOnly{}) }

func TestSeccompAlone(t *testing.T) { RunSuite(t, seccompOnly{}) }
