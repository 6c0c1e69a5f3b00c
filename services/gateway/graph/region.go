package graph

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/fault"
)

// Region is a region row.
type Region struct {
	Code, Name, Timezone string
}

// regionCache reads the regions once: they change with a migration, never
// at run time. A failed read is tried again on the next request.
type regionCache struct {
	pool *pgxpool.Pool

	mu      sync.Mutex
	regions []Region
}

func (c *regionCache) all(ctx context.Context) ([]Region, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.regions != nil {
		return c.regions, nil
	}
	rows, err := c.pool.Query(ctx, `SELECT code, name, timezone FROM regions ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("regions: %w", err)
	}
	regions, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Region])
	if err != nil {
		return nil, fmt.Errorf("regions: %w", err)
	}
	c.regions = regions
	return regions, nil
}

// resolver shapes a region code; an unknown code (or a failed read) still
// answers, with the code as its name.
func (c *regionCache) resolver(ctx context.Context, code string) *regionResolver {
	if regions, err := c.all(ctx); err == nil {
		for _, reg := range regions {
			if reg.Code == code {
				return &regionResolver{reg}
			}
		}
	}
	return &regionResolver{Region{Code: code, Name: code}}
}

// check turns an optional region argument into a known code ("" when
// absent); field names the argument in the error.
func (c *regionCache) check(ctx context.Context, field string, region *string) (string, error) {
	if region == nil || *region == "" {
		return "", nil
	}
	regions, err := c.all(ctx)
	if err != nil {
		return "", err
	}
	for _, reg := range regions {
		if reg.Code == *region {
			return reg.Code, nil
		}
	}
	return "", fault.Invalid(field, "%q is not a known region", *region)
}

type regionResolver struct{ reg Region }

func (r *regionResolver) Code() string     { return r.reg.Code }
func (r *regionResolver) Name() string     { return r.reg.Name }
func (r *regionResolver) Timezone() string { return r.reg.Timezone }
