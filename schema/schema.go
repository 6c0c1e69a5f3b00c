// Package schema holds Meridian's contracts: the GraphQL SDL served by the
// gateway and the forward-only SQL migrations applied to PostgreSQL. It has no
// dependencies so every module can embed the same source of truth.
package schema

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed graphql/*.graphql
var graphqlFiles embed.FS

//go:embed migrations/*.sql
var migrationFiles embed.FS

// GraphQL returns the whole SDL: every graphql/*.graphql file, in name order.
func GraphQL() string {
	entries, err := fs.ReadDir(graphqlFiles, "graphql")
	if err != nil {
		panic(err) // embedded at build time: cannot fail at run time
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		data, err := graphqlFiles.ReadFile("graphql/" + name)
		if err != nil {
			panic(err)
		}
		b.Write(data)
		b.WriteByte('\n')
	}
	return b.String()
}

// Migrations returns the migration files rooted at the folder holding them,
// in the layout goose expects (NNNN_name.sql).
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}
