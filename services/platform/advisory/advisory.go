// Package advisory stores what the official travel-advisory feeds say, the
// analysts' overrides over them, and each country's effective level: the
// highest current level among the sources, unless an override decides.
package advisory

import (
	"time"

	"meridian.dev/platform/advisory/feed"
)

// RunSummary is what one ingestion run of one source did, as
// refreshAdvisories and the schedules' workflow results show it.
type RunSummary struct {
	Source feed.Source `json:"source"`
	// Fetched is the number of country reports read; Changed how many of
	// them differ from what was stored.
	Fetched int `json:"fetched"`
	Changed int `json:"changed"`
	// LevelsChanged counts countries whose effective level moved.
	LevelsChanged int `json:"levelsChanged"`
	// Error is why the run stored nothing ("" on success).
	Error string    `json:"error,omitempty"`
	At    time.Time `json:"at"`
}
