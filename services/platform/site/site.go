// Package site holds sites and their status: the domain types, the rules a
// valid site obeys, and the Postgres store.
package site

import (
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"meridian.dev/platform/fault"
)

// Level is how serious a site's situation is.
type Level string

const (
	LevelNormal   Level = "NORMAL"
	LevelElevated Level = "ELEVATED"
	LevelHigh     Level = "HIGH"
	LevelCritical Level = "CRITICAL"
)

// Posture is what the site is doing about it.
type Posture string

const (
	PostureOpen       Posture = "OPEN"
	PostureRestricted Posture = "RESTRICTED"
	PostureLockdown   Posture = "LOCKDOWN"
	PostureEvacuated  Posture = "EVACUATED"
	PostureClosed     Posture = "CLOSED"
)

// MaxNoteLength bounds a status note, in characters.
const MaxNoteLength = 2000

// Sentinel errors of the site domain.
var (
	ErrNotFound = fault.New(fault.NotFound, "site not found")
	ErrConflict = fault.New(fault.Conflict, "the site's status changed since you read it; reload and try again")
	ErrCodeUsed = fault.New(fault.Conflict, "a site with this code already exists")
)

// Status is a site's current status or one entry of its history.
type Status struct {
	Level     Level     `json:"level"`
	Posture   Posture   `json:"posture"`
	Note      string    `json:"note"`
	Version   int32     `json:"version"`
	UpdatedAt time.Time `json:"updatedAt"`
	UpdatedBy string    `json:"updatedBy"`
}

// Escalates reports whether entering this status must page people.
func (s Status) Escalates() bool {
	return s.Level == LevelCritical || s.Posture == PostureLockdown || s.Posture == PostureEvacuated
}

// Site is a place Meridian watches over.
type Site struct {
	ID          uuid.UUID `json:"id"`
	Code        string    `json:"code"`
	Name        string    `json:"name"`
	Region      string    `json:"region"`
	CountryCode string    `json:"countryCode"`
	City        string    `json:"city"`
	Latitude    float64   `json:"latitude"`
	Longitude   float64   `json:"longitude"`
	Timezone    string    `json:"timezone"`
	Criticality string    `json:"criticality"`
	Status      Status    `json:"status"`
}

// NewSite is the input for creating a site.
type NewSite struct {
	Code, Name, Region, CountryCode, City, Timezone, Criticality string
	Latitude, Longitude                                          float64
}

var codePattern = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,31}$`)

// Validate checks everything that needs no database. Region existence is
// checked by the store.
func (n *NewSite) Validate() error {
	n.Code = strings.ToUpper(strings.TrimSpace(n.Code))
	n.Name = strings.TrimSpace(n.Name)
	n.City = strings.TrimSpace(n.City)
	n.Region = strings.ToUpper(strings.TrimSpace(n.Region))
	n.CountryCode = strings.ToUpper(strings.TrimSpace(n.CountryCode))
	switch {
	case !codePattern.MatchString(n.Code):
		return fault.Invalid("code", "must be 2-32 letters, digits or dashes, for example PAR-HQ")
	case n.Name == "" || utf8.RuneCountInString(n.Name) > 200:
		return fault.Invalid("name", "must be 1-200 characters")
	case n.City == "" || utf8.RuneCountInString(n.City) > 200:
		return fault.Invalid("city", "must be 1-200 characters")
	case !IsCountryCode(n.CountryCode):
		return fault.Invalid("countryCode", "%q is not an ISO 3166-1 alpha-2 code", n.CountryCode)
	case math.IsNaN(n.Latitude) || n.Latitude < -90 || n.Latitude > 90:
		return fault.Invalid("latitude", "must be between -90 and 90")
	case math.IsNaN(n.Longitude) || n.Longitude < -180 || n.Longitude > 180:
		return fault.Invalid("longitude", "must be between -180 and 180")
	}
	if err := ValidTimezone(n.Timezone); err != nil {
		return err
	}
	switch n.Criticality {
	case "LOW", "MEDIUM", "HIGH", "CRITICAL":
	default:
		return fault.Invalid("criticality", "must be LOW, MEDIUM, HIGH or CRITICAL")
	}
	return nil
}

// ValidTimezone accepts IANA zone names only: not "UTC+2", not "Local".
func ValidTimezone(tz string) error {
	if tz == "" || tz == "Local" || !strings.Contains(tz, "/") && tz != "UTC" {
		return fault.Invalid("timezone", "%q is not an IANA time zone such as Europe/Paris", tz)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fault.Invalid("timezone", "%q is not an IANA time zone such as Europe/Paris", tz)
	}
	return nil
}

// StatusChange is the input for a status update.
type StatusChange struct {
	SiteID           uuid.UUID
	Level            Level
	Posture          Posture
	Note             string
	ExpectedVersion  int32
	ClientMutationID string
}

// Validate checks the change's own fields.
func (c *StatusChange) Validate() error {
	switch c.Level {
	case LevelNormal, LevelElevated, LevelHigh, LevelCritical:
	default:
		return fault.Invalid("level", "unknown level %q", c.Level)
	}
	switch c.Posture {
	case PostureOpen, PostureRestricted, PostureLockdown, PostureEvacuated, PostureClosed:
	default:
		return fault.Invalid("posture", "unknown posture %q", c.Posture)
	}
	if utf8.RuneCountInString(c.Note) > MaxNoteLength {
		return fault.Invalid("note", "must be at most %d characters", MaxNoteLength)
	}
	if c.ExpectedVersion < 1 {
		return fault.Invalid("expectedVersion", "must be the positive version you last read")
	}
	if len(c.ClientMutationID) > 128 {
		return fault.Invalid("clientMutationId", "must be at most 128 characters")
	}
	return nil
}
