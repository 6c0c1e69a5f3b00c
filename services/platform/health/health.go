// Package health serves /readyz from named dependency checks.
package health

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Check is one dependency that must answer for the process to be ready.
type Check struct {
	Name string
	Ping func(context.Context) error
}

// Ready runs every check with a short deadline and reports the first failure.
func Ready(ctx context.Context, checks ...Check) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, c := range checks {
		if err := c.Ping(ctx); err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	return nil
}

// Handler answers 200 "ready" when every check passes, 503 naming the failing
// dependency otherwise.
func Handler(checks ...Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := Ready(r.Context(), checks...); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	}
}
