// Package proximity answers "who and what of ours is near this?": how far
// each kind of incident reaches (impact radii), which sites and travellers
// an incident affects, and which earthquakes from the USGS feed come close
// enough to raise an incident. Every distance is PostGIS's (geography,
// metres on the WGS 84 spheroid, ST_DWithin on GiST-indexed columns); no
// distance is computed in Go.
package proximity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/fault"
)

// Asset types a radius applies to.
const (
	AssetSite      = "SITE"
	AssetTraveller = "TRAVELLER"
	AssetDetail    = "DETAIL" // a protective detail: executive protection's people
)

// AssetTypes lists every asset type, in display order.
var AssetTypes = []string{AssetSite, AssetTraveller, AssetDetail}

// DefaultKind is the radius row that applies to any kind without its own.
const DefaultKind = "*"

// MaxRadiusKm bounds a radius: beyond it "near" means nothing.
const MaxRadiusKm = 2000

var validKind = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,39}$`)

// Radius is how far an incident of a kind reaches for one asset type.
type Radius struct {
	Kind      string    `json:"kind"`
	AssetType string    `json:"assetType"`
	RadiusKm  float64   `json:"radiusKm"`
	UpdatedBy string    `json:"updatedBy"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Radii reads and sets impact radii.
type Radii struct{ pool *pgxpool.Pool }

// NewRadii returns radii on pool.
func NewRadii(pool *pgxpool.Pool) *Radii { return &Radii{pool: pool} }

const radiusColumns = `kind, asset_type, radius_km, updated_by, updated_at`

func scanRadius(row pgx.Row) (Radius, error) {
	var r Radius
	err := row.Scan(&r.Kind, &r.AssetType, &r.RadiusKm, &r.UpdatedBy, &r.UpdatedAt)
	return r, err
}

// List returns every radius: the default kind first, then kinds
// alphabetically, asset types in AssetTypes order.
func (r *Radii) List(ctx context.Context) ([]Radius, error) {
	rows, err := r.pool.Query(ctx, `SELECT `+radiusColumns+` FROM impact_radii
		ORDER BY kind <> '*', kind COLLATE "C", array_position($1::text[], asset_type)`, AssetTypes)
	if err != nil {
		return nil, fmt.Errorf("proximity: list radii: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Radius, error) { return scanRadius(row) })
	if err != nil {
		return nil, fmt.Errorf("proximity: list radii: %w", err)
	}
	return list, nil
}

// normalise validates a kind and an asset type the way every entry point
// takes them: kinds upper-cased, "*" for the default.
func normalise(kind, assetType string) (string, string, error) {
	kind = strings.ToUpper(strings.TrimSpace(kind))
	assetType = strings.ToUpper(strings.TrimSpace(assetType))
	if kind != DefaultKind && !validKind.MatchString(kind) {
		return "", "", fault.Invalid("kind", "must be %q or a letter followed by up to 39 letters, digits or underscores", DefaultKind)
	}
	if !slices.Contains(AssetTypes, assetType) {
		return "", "", fault.Invalid("assetType", "must be SITE, TRAVELLER or DETAIL")
	}
	return kind, assetType, nil
}

// Set stores the radius for kind and asset type, with an audit entry in the
// same transaction. Bad input changes nothing.
func (r *Radii) Set(ctx context.Context, actor string, kind, assetType string, radiusKm float64) (Radius, error) {
	kind, assetType, err := normalise(kind, assetType)
	if err != nil {
		return Radius{}, err
	}
	if math.IsNaN(radiusKm) || math.IsInf(radiusKm, 0) || radiusKm <= 0 || radiusKm > MaxRadiusKm {
		return Radius{}, fault.Invalid("radiusKm", "must be more than 0 and at most %d", MaxRadiusKm)
	}
	if err := fault.CheckText("actor", actor); err != nil {
		return Radius{}, err
	}
	var saved Radius
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var before *Radius
		old, err := scanRadius(tx.QueryRow(ctx, `SELECT `+radiusColumns+` FROM impact_radii
			WHERE kind = $1 AND asset_type = $2 FOR UPDATE`, kind, assetType))
		switch {
		case err == nil:
			before = &old
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("proximity: read radius: %w", err)
		}
		saved, err = scanRadius(tx.QueryRow(ctx, `INSERT INTO impact_radii (kind, asset_type, radius_km, updated_by, updated_at)
			VALUES ($1, $2, $3, $4, now())
			ON CONFLICT (kind, asset_type) DO UPDATE
			   SET radius_km = EXCLUDED.radius_km, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at
			RETURNING `+radiusColumns, kind, assetType, radiusKm, actor))
		if err != nil {
			return fmt.Errorf("proximity: set radius: %w", err)
		}
		entry := audit.Entry{Actor: actor, Action: "proximity.set_radius", ObjectType: "ImpactRadius",
			ObjectID: kind + "/" + assetType, After: saved}
		if before != nil {
			entry.Before = before
		}
		return audit.Record(ctx, tx, entry)
	})
	if err != nil {
		return Radius{}, err
	}
	return saved, nil
}

// For returns the radius in kilometres for kind and asset type, falling back
// to the default kind's.
func (r *Radii) For(ctx context.Context, kind, assetType string) (float64, error) {
	kind, assetType, err := normalise(kind, assetType)
	if err != nil {
		return 0, err
	}
	var km float64
	err = r.pool.QueryRow(ctx, `SELECT radius_km FROM impact_radii
		WHERE kind IN ($1, '*') AND asset_type = $2 ORDER BY kind = '*' LIMIT 1`, kind, assetType).Scan(&km)
	if err != nil {
		return 0, fmt.Errorf("proximity: radius for %s/%s: %w", kind, assetType, err)
	}
	return km, nil
}

// radiusTable is every radius at once, for the paths that need several
// kinds (AffectedMany): one small read instead of one per incident.
type radiusTable map[[2]string]float64

func (r *Radii) table(ctx context.Context) (radiusTable, error) {
	list, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	t := make(radiusTable, len(list))
	for _, rad := range list {
		t[[2]string{rad.Kind, rad.AssetType}] = rad.RadiusKm
	}
	return t, nil
}

// of returns the radius for kind, else the default kind's, else 0 (nothing
// is near: the '*' rows are seeded by the migration and cannot be removed
// through the API, so 0 means a broken database rather than a policy).
func (t radiusTable) of(kind, assetType string) float64 {
	if km, ok := t[[2]string{strings.ToUpper(kind), assetType}]; ok {
		return km
	}
	return t[[2]string{DefaultKind, assetType}]
}
