package advisory

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/country"
	"meridian.dev/platform/fault"
)

// Advisory is what one source says about one country now.
type Advisory struct {
	Source      feed.Source `json:"source"`
	Country     string      `json:"country"`
	Level       int         `json:"level"`
	SourceLabel string      `json:"sourceLabel"`
	Title       string      `json:"title"`
	Summary     string      `json:"summary"`
	Indicators  []string    `json:"indicators"`
	Areas       []feed.Area `json:"areas"`
	PublishedAt *time.Time  `json:"publishedAt,omitempty"`
	FetchedAt   time.Time   `json:"fetchedAt"`
	URL         string      `json:"url"`
}

// Risk is a country's effective level and why.
type Risk struct {
	Country country.Country
	Level   int
	Rule    string
	// Advisories are the sources' current reports, in feed.Sources order.
	Advisories []Advisory
	// Override is the country-wide override in force, if any.
	Override      *Override
	AreaOverrides []Override
}

// SourceStatus is one feed's health.
type SourceStatus struct {
	Source        feed.Source
	LastSuccessAt *time.Time
	LastAttemptAt *time.Time
	LastError     string
	Countries     int
}

// Filter narrows List; zero values match everything.
type Filter struct {
	Country  string
	Source   feed.Source
	MinLevel int
}

// MaxPageSize bounds List's first.
const MaxPageSize = 500

const advisoryColumns = `source, country_code, level, source_label, title, summary, indicators, areas, published_at, fetched_at, url`

func scanAdvisory(row pgx.Row) (Advisory, error) {
	var a Advisory
	var areas []byte
	if err := row.Scan(&a.Source, &a.Country, &a.Level, &a.SourceLabel, &a.Title, &a.Summary, &a.Indicators, &areas,
		&a.PublishedAt, &a.FetchedAt, &a.URL); err != nil {
		return Advisory{}, err
	}
	if err := json.Unmarshal(areas, &a.Areas); err != nil {
		return Advisory{}, fmt.Errorf("areas of %s %s: %w", a.Source, a.Country, err)
	}
	if a.Indicators == nil {
		a.Indicators = []string{}
	}
	if a.Areas == nil {
		a.Areas = []feed.Area{}
	}
	return a, nil
}

func knownCountry(field, code string) (country.Country, error) {
	if err := fault.CheckText(field, code); err != nil {
		return country.Country{}, err
	}
	c, ok := country.Get(strings.ToUpper(strings.TrimSpace(code)))
	if !ok {
		return country.Country{}, fault.Invalid(field, "unknown country code")
	}
	return c, nil
}

// CountryRisk returns a country's effective level, its sources' reports and
// its overrides in force. A country nothing has been said about is level 1
// under SOURCE_MAX with no advisories.
func (s *Store) CountryRisk(ctx context.Context, code string) (Risk, error) {
	c, err := knownCountry("country", code)
	if err != nil {
		return Risk{}, err
	}
	risk := Risk{Country: c, Level: 1, Rule: RuleSourceMax, Advisories: []Advisory{}, AreaOverrides: []Override{}}
	// One snapshot for the three reads, so level, reports and overrides
	// agree with each other.
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT level, rule FROM country_risk WHERE country_code = $1`, c.Code).Scan(&risk.Level, &risk.Rule)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("advisory: country risk %s: %w", c.Code, err)
		}
		rows, err := tx.Query(ctx, `SELECT `+advisoryColumns+` FROM advisories WHERE country_code = $1`, c.Code)
		if err != nil {
			return fmt.Errorf("advisory: advisories of %s: %w", c.Code, err)
		}
		if risk.Advisories, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Advisory, error) { return scanAdvisory(r) }); err != nil {
			return fmt.Errorf("advisory: advisories of %s: %w", c.Code, err)
		}
		slices.SortFunc(risk.Advisories, func(a, b Advisory) int {
			return slices.Index(feed.Sources, a.Source) - slices.Index(feed.Sources, b.Source)
		})
		rows, err = tx.Query(ctx, `SELECT `+overrideColumns+` FROM advisory_overrides
			WHERE country_code = $1 AND (expires_at IS NULL OR expires_at > now()) ORDER BY area`, c.Code)
		if err != nil {
			return fmt.Errorf("advisory: overrides of %s: %w", c.Code, err)
		}
		overrides, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Override, error) { return scanOverride(r) })
		if err != nil {
			return fmt.Errorf("advisory: overrides of %s: %w", c.Code, err)
		}
		for _, o := range overrides {
			if o.Area == "" {
				risk.Override = &o
			} else {
				risk.AreaOverrides = append(risk.AreaOverrides, o)
			}
		}
		return nil
	})
	if err != nil {
		return Risk{}, err
	}
	if risk.Advisories == nil {
		risk.Advisories = []Advisory{}
	}
	return risk, nil
}

const cursorPrefix = "advisory:"

// Cursor is the List cursor that resumes after a: opaque to clients,
// "CC/SOURCE" inside.
func Cursor(a Advisory) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + a.Country + "/" + string(a.Source)))
}

func decodeListCursor(cursor string) (code string, src feed.Source, err error) {
	raw, derr := base64.RawURLEncoding.DecodeString(cursor)
	key, ok := strings.CutPrefix(string(raw), cursorPrefix)
	code, source, found := strings.Cut(key, "/")
	if derr != nil || !ok || !found || len(code) != 2 || !slices.Contains(feed.Sources, feed.Source(source)) {
		return "", "", fault.Invalid("after", "is not a cursor from this list")
	}
	return code, feed.Source(source), nil
}

// List pages the sources' reports ordered by country then source, after the
// cursor (from a previous page's Cursor), and says whether more follow.
func (s *Store) List(ctx context.Context, f Filter, first int, after string) ([]Advisory, bool, error) {
	if first < 0 || first > MaxPageSize {
		return nil, false, fault.Invalid("first", "must be between 0 and %d", MaxPageSize)
	}
	var code string
	if f.Country != "" {
		c, err := knownCountry("country", f.Country)
		if err != nil {
			return nil, false, err
		}
		code = c.Code
	}
	if f.Source != "" && !slices.Contains(feed.Sources, f.Source) {
		return nil, false, fault.Invalid("source", "unknown advisory source")
	}
	if f.MinLevel != 0 && (f.MinLevel < 1 || f.MinLevel > 4) {
		return nil, false, fault.Invalid("minLevel", "must be between 1 and 4")
	}
	afterCode, afterSource := "", feed.Source("")
	if after != "" {
		var err error
		if afterCode, afterSource, err = decodeListCursor(after); err != nil {
			return nil, false, err
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT `+advisoryColumns+` FROM advisories
		WHERE ($1 = '' OR country_code = $1) AND ($2 = '' OR source = $2) AND level >= $3
		AND (country_code, source) > ($4::char(2), $5::text)
		ORDER BY country_code, source LIMIT $6`, code, string(f.Source), f.MinLevel, afterCode, string(afterSource), first+1)
	if err != nil {
		return nil, false, fmt.Errorf("advisory: list: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Advisory, error) { return scanAdvisory(r) })
	if err != nil {
		return nil, false, fmt.Errorf("advisory: list: %w", err)
	}
	hasNext := len(list) > first
	if hasNext {
		list = list[:first]
	}
	return list, hasNext, nil
}

// Sources returns every feed's health, in feed.Sources order.
func (s *Store) Sources(ctx context.Context) ([]SourceStatus, error) {
	rows, err := s.pool.Query(ctx, `SELECT source, last_success_at, last_attempt_at, last_error, countries FROM advisory_sources`)
	if err != nil {
		return nil, fmt.Errorf("advisory: sources: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[SourceStatus])
	if err != nil {
		return nil, fmt.Errorf("advisory: sources: %w", err)
	}
	list = slices.DeleteFunc(list, func(st SourceStatus) bool { return !slices.Contains(feed.Sources, st.Source) })
	slices.SortFunc(list, func(a, b SourceStatus) int {
		return slices.Index(feed.Sources, a.Source) - slices.Index(feed.Sources, b.Source)
	})
	return list, nil
}

// Levels returns the effective level of every country that has one; a
// country missing from the map is level 1.
func (s *Store) Levels(ctx context.Context) (map[string]int, error) {
	levels, err := s.CountryLevels(ctx)
	if err != nil {
		return nil, err
	}
	byCode := make(map[string]int, len(levels))
	for _, l := range levels {
		byCode[l.Country] = l.Level
	}
	return byCode, nil
}

// CountryLevel is one country's effective level and the rule that set it.
type CountryLevel struct {
	Country string
	Level   int
	Rule    string
}

// CountryLevels lists every country something has been said about, by code:
// the whole map in one read (a country absent from it is level 1).
func (s *Store) CountryLevels(ctx context.Context) ([]CountryLevel, error) {
	rows, err := s.pool.Query(ctx, `SELECT country_code, level, rule FROM country_risk ORDER BY country_code`)
	if err != nil {
		return nil, fmt.Errorf("advisory: levels: %w", err)
	}
	levels, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CountryLevel, error) {
		var l CountryLevel
		err := r.Scan(&l.Country, &l.Level, &l.Rule)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("advisory: levels: %w", err)
	}
	return levels, nil
}
