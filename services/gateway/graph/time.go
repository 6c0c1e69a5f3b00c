package graph

import (
	"time"

	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/fault"
)

// Instants the API accepts: wide enough for any real schedule or history,
// narrow enough that everything computed from them (a shift's end a week
// later, a duration) stays a valid RFC 3339 time. graphql-go cannot encode
// a year past 9999, and a panic there would reach the client as an empty
// answer.
var (
	earliestInstant = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	latestInstant   = time.Date(2999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// instant returns the argument, or def when it is absent, and refuses one
// outside the range the API works in, naming field.
func instant(field string, at *graphql.Time, def time.Time) (time.Time, error) {
	if at == nil {
		return def, nil
	}
	if err := checkInstant(field, at.Time); err != nil {
		return time.Time{}, err
	}
	return at.Time, nil
}

func checkInstant(field string, t time.Time) error {
	if t.Before(earliestInstant) || t.After(latestInstant) {
		return fault.Invalid(field, "must be between %s and %s", earliestInstant.Format(time.RFC3339), latestInstant.Format(time.RFC3339))
	}
	return nil
}
