// Package feed reads the four official travel-advisory feeds in their real
// published formats and turns each into Reports on Meridian's one scale.
// Nothing here touches a database: a collector asks a Getter for the
// documents it needs (the fetcher in this package over HTTP, or a map in
// tests), and returns a Snapshot the advisory store applies.
package feed

import (
	"context"
	"errors"
	"time"
)

// Source names one official feed; the values are the GraphQL enum's.
type Source string

const (
	USState         Source = "US_STATE"
	UKFCDO          Source = "UK_FCDO"
	CAGAC           Source = "CA_GAC"
	AUSmartraveller Source = "AU_SMARTRAVELLER"
)

// Sources lists every source, in the order they are shown.
var Sources = []Source{USState, UKFCDO, CAGAC, AUSmartraveller}

// Level is Meridian's one scale, onto which every source is mapped
// (docs/ARCHITECTURE.md, "Travel risk", has the table).
type Level int

const (
	Normal           Level = 1 // exercise normal precautions
	IncreasedCaution Level = 2
	Reconsider       Level = 3 // reconsider travel / avoid non-essential travel
	DoNotTravel      Level = 4
)

// Area is a sub-national part of a country with its own level.
type Area struct {
	Name  string `json:"name"`
	Level Level  `json:"level"`
	Text  string `json:"text"`
}

// Report is what one source says about one country now.
type Report struct {
	Source      Source
	CountryCode string // ISO 3166-1 alpha-2, upper case
	Level       Level
	SourceLabel string   // the source's own words for its level ("Level 4: Do Not Travel")
	Title       string   // plain text
	Summary     string   // plain text, no HTML
	Indicators  []string // US only: C T U H N E K D O, sorted
	Areas       []Area
	PublishedAt time.Time // zero when the source gives no usable date
	URL         string
}

// Snapshot is one complete reading of a source.
type Snapshot struct {
	Source  Source
	Reports []Report
	// Skipped explains items that could not be mapped (an unknown country,
	// a pseudo-row): visible in logs and run summaries, never fatal alone.
	Skipped []string
	// Failed counts per-country documents that could not be fetched or
	// parsed (UK, Canada): their last good reports stay as they are.
	Failed []string
}

// Document is one fetched body.
type Document struct {
	URL       string
	Body      []byte
	FetchedAt time.Time
}

// Getter fetches one document. The HTTP fetcher handles timeouts, size
// limits, conditional requests and retries behind it.
type Getter interface {
	Get(ctx context.Context, url string) (Document, error)
}

// ErrMalformed wraps every parse failure: the document is not the feed's
// format (an HTML error page, truncated JSON, a wrong root element).
var ErrMalformed = errors.New("feed: malformed document")
