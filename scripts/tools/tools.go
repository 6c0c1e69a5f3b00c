//go:build tools

// Package tools pins the developer tools Meridian builds from source. It is kept
// out of go.work so that the Temporal server's dependency graph never leaks
// into the services' modules.
package tools

import (
	_ "github.com/temporalio/cli/cmd/temporal"
)
