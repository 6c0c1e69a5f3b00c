// Package testenv gives integration tests the real services they need. Each
// helper fails the test loudly when its service does not answer: a test that
// needs a service never skips.
//
// NewDatabase gives each test package a fresh database, cloned from a
// template that has every migration applied. It talks to the real Postgres
// named by MERIDIAN_TEST_DATABASE_URL (default 127.0.0.1:5432) and fails the
// test loudly when none answers: a test that needs Postgres never skips.
package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/postgres"
	"meridian.dev/schema"
)

// ServerURL is the server tests use, with no database chosen.
func ServerURL() string {
	if u := os.Getenv("MERIDIAN_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func withDatabase(server, name string) string {
	u, err := url.Parse(server)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// templateDB migrates a template named after a hash of the migrations, once
// per machine: later packages and runs clone it in milliseconds.
func templateDB(ctx context.Context) (string, error) {
	templateOnce.Do(func() {
		h := sha256.New()
		_ = fs.WalkDir(schema.Migrations(), ".", func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				data, _ := fs.ReadFile(schema.Migrations(), path)
				h.Write([]byte(path))
				h.Write(data)
			}
			return nil
		})
		templateName = "meridian_tmpl_" + hex.EncodeToString(h.Sum(nil))[:12]
		templateErr = ensureTemplate(ctx, templateName)
	})
	return templateName, templateErr
}

func ensureTemplate(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		return fmt.Errorf("postgres is required for this test and did not answer at %s: %w", ServerURL(), err)
	}
	defer conn.Close(ctx)
	// Serialise template creation across test binaries running in parallel.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7265811)"); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock(7265811)")
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return err
	}
	if err := postgres.Migrate(ctx, withDatabase(ServerURL(), name)); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH is_template true")
	return err
}

// NewDatabase creates a fresh, migrated database for t and drops it when the
// test ends. It returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmpl, err := templateDB(ctx)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Fatalf("testenv: postgres is required and did not answer at %s: %v", ServerURL(), err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("meridian_test_%s_%d", sanitize(t.Name()), time.Now().UnixNano()%1e9)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{tmpl}.Sanitize()); err != nil {
		t.Fatalf("testenv: create %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, ServerURL())
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return withDatabase(ServerURL(), name)
}

// NewPool is NewDatabase plus a pool closed at the end of the test.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Connect(context.Background(), NewDatabase(t))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func sanitize(name string) string {
	name = strings.ToLower(name)
	var b strings.Builder
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 30 {
			break
		}
	}
	return b.String()
}
