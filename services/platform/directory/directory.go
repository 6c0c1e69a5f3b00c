// Package directory lists the people Meridian can page: who holds which role
// in which region, and how to reach them.
package directory

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Person is someone who can be paged.
type Person struct {
	Subject string   `json:"subject"`
	Name    string   `json:"name"`
	Email   string   `json:"email"`
	Roles   []string `json:"roles"`
	Regions []string `json:"regions"`
}

// Store reads and writes the directory.
type Store struct{ pool *pgxpool.Pool }

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// InRole returns the people holding role; when region is not empty, only
// those whose regions include it. Ordered by subject for stable paging.
func (s *Store) InRole(ctx context.Context, role, region string) ([]Person, error) {
	rows, err := s.pool.Query(ctx, `SELECT subject, name, email, roles, regions FROM users
		WHERE $1 = ANY(roles) AND ($2 = '' OR $2 = ANY(regions)) ORDER BY subject`, role, region)
	if err != nil {
		return nil, fmt.Errorf("directory: in role %s: %w", role, err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Person])
}

// Upsert adds or updates a person.
func (s *Store) Upsert(ctx context.Context, p Person) error {
	// pgx sends a nil slice as NULL; the columns want an empty array.
	p.Roles = append([]string{}, p.Roles...)
	p.Regions = append([]string{}, p.Regions...)
	_, err := s.pool.Exec(ctx, `INSERT INTO users (subject, name, email, roles, regions) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (subject) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, roles = EXCLUDED.roles,
		regions = EXCLUDED.regions`, p.Subject, p.Name, p.Email, p.Roles, p.Regions)
	if err != nil {
		return fmt.Errorf("directory: upsert %s: %w", p.Subject, err)
	}
	return nil
}

// Names returns the directory names of the given subjects; unknown subjects
// are absent.
func (s *Store) Names(ctx context.Context, subjects []string) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT subject, name FROM users WHERE subject = ANY($1)`, subjects)
	if err != nil {
		return nil, fmt.Errorf("directory: names: %w", err)
	}
	defer rows.Close()
	out := make(map[string]string, len(subjects))
	for rows.Next() {
		var subject, name string
		if err := rows.Scan(&subject, &name); err != nil {
			return nil, fmt.Errorf("directory: names: %w", err)
		}
		out[subject] = name
	}
	return out, rows.Err()
}

// People returns the named people the directory knows, by subject.
func (s *Store) People(ctx context.Context, subjects []string) ([]Person, error) {
	rows, err := s.pool.Query(ctx, `SELECT subject, name, email, roles, regions FROM users
		WHERE subject = ANY($1) ORDER BY subject`, subjects)
	if err != nil {
		return nil, fmt.Errorf("directory: people: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Person])
}
