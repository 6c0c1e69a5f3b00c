package advisory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/country"
)

// Store keeps the advisories, the overrides and the effective levels in
// Postgres.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
}

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool, log: slog.Default()} }

// ErrRefused wraps every reason a whole snapshot was refused; the stored
// advisories stay as they were (the last good data).
var ErrRefused = errors.New("advisory: snapshot refused")

// Below this many stored countries a source is too small for the shrink
// guard to say anything useful.
const shrinkGuardMinimum = 10

// Bounds on feed text, so a runaway document cannot bloat a row.
const (
	maxLabelRunes   = 200
	maxTitleRunes   = 500
	maxSummaryRunes = 20000
	maxAreaRunes    = 200
	maxAreaText     = 5000
	maxURLBytes     = 2000
	maxErrorRunes   = 1000
)

// Apply stores a snapshot of one source as its new last good data, in one
// transaction that holds the source's lock (a scheduled run and an on-demand
// run may overlap). Invalid reports are skipped; a snapshot with nothing
// valid in it, or one that covers fewer than half of the countries already
// stored, is refused as a whole (ErrRefused) and only the failure is
// recorded. Countries absent from the snapshot keep their rows.
func (s *Store) Apply(ctx context.Context, snap feed.Snapshot, fetchedAt time.Time) (RunSummary, error) {
	sum := RunSummary{Source: snap.Source, Fetched: len(snap.Reports), At: fetchedAt}
	if !slices.Contains(feed.Sources, snap.Source) {
		return sum, fmt.Errorf("advisory: unknown source %q", snap.Source)
	}
	fetchedAt = fetchedAt.UTC().Truncate(time.Microsecond)
	reports, skipped := normaliseSnapshot(snap)
	for _, why := range skipped {
		s.log.WarnContext(ctx, "advisory: report skipped", "source", snap.Source, "why", why)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('advisory.source'), hashtext($1))`, string(snap.Source)); err != nil {
			return fmt.Errorf("advisory: lock %s: %w", snap.Source, err)
		}
		stored, err := storedHashes(ctx, tx, snap.Source)
		if err != nil {
			return err
		}
		if len(reports) == 0 {
			return fmt.Errorf("%w: no valid country reports (%d read, %d skipped)", ErrRefused, len(snap.Reports), len(skipped))
		}
		covered := 0
		for _, r := range reports {
			if _, ok := stored[r.Country]; ok {
				covered++
			}
		}
		if len(stored) >= shrinkGuardMinimum && covered*2 < len(stored) {
			return fmt.Errorf("%w: suspiciously small: %d countries where %d were stored", ErrRefused, covered, len(stored))
		}

		upserts := &pgx.Batch{}
		var same []string
		for _, r := range reports {
			if stored[r.Country] == r.hash {
				same = append(same, r.Country)
				continue
			}
			// A run that fetched earlier but commits later must not put
			// older words over newer ones: hence the fetched_at condition.
			upserts.Queue(`INSERT INTO advisories (source, country_code, level, source_label, title, summary, indicators,
					areas, published_at, fetched_at, url, content_hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
				ON CONFLICT (source, country_code) DO UPDATE SET level = EXCLUDED.level,
					source_label = EXCLUDED.source_label, title = EXCLUDED.title, summary = EXCLUDED.summary,
					indicators = EXCLUDED.indicators, areas = EXCLUDED.areas, published_at = EXCLUDED.published_at,
					fetched_at = EXCLUDED.fetched_at, url = EXCLUDED.url, content_hash = EXCLUDED.content_hash
				WHERE advisories.fetched_at <= EXCLUDED.fetched_at`,
				string(snap.Source), r.Country, r.Level, r.SourceLabel, r.Title, r.Summary, r.Indicators,
				r.areasJSON, r.PublishedAt, fetchedAt, r.URL, r.hash)
		}
		if upserts.Len() > 0 {
			results := tx.SendBatch(ctx, upserts)
			for range upserts.Len() {
				tag, err := results.Exec()
				if err != nil {
					results.Close()
					return fmt.Errorf("advisory: store %s reports: %w", snap.Source, err)
				}
				sum.Changed += int(tag.RowsAffected())
			}
			if err := results.Close(); err != nil {
				return fmt.Errorf("advisory: store %s reports: %w", snap.Source, err)
			}
		}
		if len(same) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE advisories SET fetched_at = GREATEST(fetched_at, $3)
				WHERE source = $1 AND country_code = ANY($2::char(2)[])`, string(snap.Source), same, fetchedAt); err != nil {
				return fmt.Errorf("advisory: touch %s reports: %w", snap.Source, err)
			}
		}

		codes := make([]string, 0, len(reports))
		var changed []string
		for _, r := range reports {
			codes = append(codes, r.Country)
			if !slices.Contains(same, r.Country) {
				changed = append(changed, r.Country)
			}
		}
		cause := fmt.Sprintf("source %s run at %s", snap.Source, fetchedAt.Format(time.RFC3339))
		if sum.LevelsChanged, err = recompute(ctx, tx, codes, cause, changed); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE advisory_sources SET last_attempt_at = now(), last_success_at = now(), last_error = '',
			countries = (SELECT count(*) FROM advisories WHERE source = $1) WHERE source = $1`, string(snap.Source))
		if err != nil {
			return fmt.Errorf("advisory: record %s success: %w", snap.Source, err)
		}
		return nil
	})
	if err != nil {
		sum.Changed, sum.LevelsChanged = 0, 0
		// The failure is worth recording even when the run's context was
		// cancelled half-way: that is often why it failed.
		recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if ferr := s.RecordFailure(recordCtx, snap.Source, err); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return sum, err
	}
	return sum, nil
}

// RecordFailure notes a failed attempt on the source's status; nothing else
// changes, so the last good data stays in use.
func (s *Store) RecordFailure(ctx context.Context, src feed.Source, cause error) error {
	msg := "unknown error"
	if cause != nil {
		msg = cleanText(cause.Error(), maxErrorRunes)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE advisory_sources SET last_attempt_at = now(), last_error = $2 WHERE source = $1`,
		string(src), msg)
	if err != nil {
		return fmt.Errorf("advisory: record %s failure: %w", src, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("advisory: record failure: unknown source %q", src)
	}
	return nil
}

func storedHashes(ctx context.Context, tx pgx.Tx, src feed.Source) (map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT country_code, content_hash FROM advisories WHERE source = $1`, string(src))
	if err != nil {
		return nil, fmt.Errorf("advisory: read %s hashes: %w", src, err)
	}
	defer rows.Close()
	stored := map[string]string{}
	for rows.Next() {
		var code, hash string
		if err := rows.Scan(&code, &hash); err != nil {
			return nil, fmt.Errorf("advisory: read %s hashes: %w", src, err)
		}
		stored[code] = hash
	}
	return stored, rows.Err()
}

// normalReport is a report as stored: cleaned, bounded, and with the hash of
// exactly those stored values.
type normalReport struct {
	Source      feed.Source `json:"source"`
	Country     string      `json:"country"`
	Level       int         `json:"level"`
	SourceLabel string      `json:"sourceLabel"`
	Title       string      `json:"title"`
	Summary     string      `json:"summary"`
	Indicators  []string    `json:"indicators"`
	Areas       []feed.Area `json:"areas"`
	PublishedAt *time.Time  `json:"publishedAt"`
	URL         string      `json:"url"`
	areasJSON   []byte
	hash        string
}

// normaliseSnapshot cleans every report and returns the valid ones, one per
// country, with a line for each report it skipped.
func normaliseSnapshot(snap feed.Snapshot) ([]normalReport, []string) {
	var skipped []string
	byCountry := map[string]int{}
	var out []normalReport
	for _, r := range snap.Reports {
		n, err := normalise(snap.Source, r)
		if err != nil {
			skipped = append(skipped, err.Error())
			continue
		}
		// Two reports for one country (a feed item covering several
		// jurisdictions): the stricter one wins, as a traveller would want.
		if i, ok := byCountry[n.Country]; ok {
			skipped = append(skipped, fmt.Sprintf("%s: a second report for the country in one snapshot", n.Country))
			if n.Level > out[i].Level {
				out[i] = n
			}
			continue
		}
		byCountry[n.Country] = len(out)
		out = append(out, n)
	}
	return out, skipped
}

func normalise(src feed.Source, r feed.Report) (normalReport, error) {
	code := strings.ToUpper(strings.TrimSpace(r.CountryCode))
	if r.Source != "" && r.Source != src {
		return normalReport{}, fmt.Errorf("%s: report of source %s in a %s snapshot", code, r.Source, src)
	}
	if _, ok := country.Get(code); !ok {
		return normalReport{}, fmt.Errorf("%q: unknown country code", cleanText(r.CountryCode, 20))
	}
	if r.Level < feed.Normal || r.Level > feed.DoNotTravel {
		return normalReport{}, fmt.Errorf("%s: level %d is not between 1 and 4", code, r.Level)
	}
	n := normalReport{
		Source:      src,
		Country:     code,
		Level:       int(r.Level),
		SourceLabel: cleanText(r.SourceLabel, maxLabelRunes),
		Title:       cleanText(r.Title, maxTitleRunes),
		Summary:     cleanText(r.Summary, maxSummaryRunes),
		Indicators:  normaliseIndicators(r.Indicators),
		Areas:       []feed.Area{},
		URL:         cleanURL(r.URL),
	}
	for _, a := range r.Areas {
		if a.Level < feed.Normal || a.Level > feed.DoNotTravel {
			return normalReport{}, fmt.Errorf("%s: area %q has level %d, not between 1 and 4", code, cleanText(a.Name, maxAreaRunes), a.Level)
		}
		name := cleanText(a.Name, maxAreaRunes)
		if name == "" {
			return normalReport{}, fmt.Errorf("%s: an area without a name", code)
		}
		n.Areas = append(n.Areas, feed.Area{Name: name, Level: a.Level, Text: cleanText(a.Text, maxAreaText)})
	}
	if !r.PublishedAt.IsZero() {
		// Postgres keeps microseconds: hash what will be stored.
		t := r.PublishedAt.UTC().Truncate(time.Microsecond)
		n.PublishedAt = &t
	}
	var err error
	if n.areasJSON, err = json.Marshal(n.Areas); err != nil {
		return normalReport{}, fmt.Errorf("%s: areas: %w", code, err)
	}
	canonical, err := json.Marshal(n)
	if err != nil {
		return normalReport{}, fmt.Errorf("%s: %w", code, err)
	}
	sum := sha256.Sum256(canonical)
	n.hash = hex.EncodeToString(sum[:])
	return n, nil
}

// usIndicators are the State Department's risk indicators.
const usIndicators = "CTUHNEKDO"

func normaliseIndicators(in []string) []string {
	out := []string{}
	for _, s := range in {
		s = strings.ToUpper(strings.TrimSpace(s))
		if len(s) == 1 && strings.Contains(usIndicators, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// cleanText makes feed text storable rather than refusing it: a feed's stray
// NUL or broken byte must not cost the country its advisory. It drops NULs,
// replaces invalid UTF-8, trims, and cuts at max runes.
func cleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > max {
		s = strings.TrimSpace(string([]rune(s)[:max])) + "…"
	}
	return s
}

// cleanURL keeps only absolute http(s) links: the URL is shown as a link.
func cleanURL(s string) string {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(s) > maxURLBytes || !utf8.ValidString(s) {
		return ""
	}
	return s
}
