//go:build tools

// Package lint pins the linters `make lint` builds: staticcheck and Temporal's
// workflowcheck (which proves workflow code deterministic). Kept apart from the
// Temporal CLI's tools module so neither drags the other's versions around.
package lint

import (
	_ "go.temporal.io/sdk/contrib/tools/workflowcheck"
	_ "honnef.co/go/tools/cmd/staticcheck"
)
