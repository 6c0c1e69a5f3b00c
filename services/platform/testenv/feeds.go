package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// SharedFeedsEnv names the folder of real feed captures when it is not
// ../shared/feeds beside the repository.
const SharedFeedsEnv = "MERIDIAN_SHARED_FEEDS"

// SharedFeeds returns the folder of real published feed captures kept
// beside the repository (../shared/feeds from the folder holding go.work,
// or SharedFeedsEnv), and skips t, saying where it looked, when it is
// absent: the captures are not the project's to ship, and the parsers are
// tested on the project's own fixtures either way.
func SharedFeeds(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(SharedFeedsEnv)
	if dir == "" {
		dir = filepath.Join(repositoryRoot(t), "..", "shared", "feeds")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no real feed captures at %s (%v): only the project's own fixtures were checked", dir, err)
	}
	return dir
}

// repositoryRoot is the nearest folder up from the test's own holding
// go.work: tests run in their package's folder, at any depth.
func repositoryRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testenv: no go.work above the test's folder")
		}
		dir = parent
	}
}
