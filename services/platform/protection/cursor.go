package protection

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"meridian.dev/platform/fault"
)

// maxPage bounds `first` on every list, as site.MaxPageSize does for the
// others.
const maxPage = 500

func checkFirst(first int) error {
	if first < 0 {
		return fault.Invalid("first", "must not be negative")
	}
	if first > maxPage {
		return fault.Invalid("first", "must be at most %d", maxPage)
	}
	return nil
}

// Cursor kinds: a cursor from one list is refused by another.
const (
	protecteeCursorKind = "protectee"
	detailCursorKind    = "detail"
	checkInCursorKind   = "checkin"
	accessCursorKind    = "access"
)

// A keyset cursor is a row's (time, id): lists are ordered newest first by
// both, so equal times still page without a gap or a repeat.
func encodeCursor(kind string, at time.Time, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + at.UTC().Format(time.RFC3339Nano) + "|" + id.String()))
}

func decodeCursor(kind, cursor string) (time.Time, uuid.UUID, error) {
	bad := fault.Invalid("after", "is not a cursor from this list")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return time.Time{}, uuid.Nil, bad
	}
	rest, ok := strings.CutPrefix(string(raw), kind+":")
	if !ok {
		return time.Time{}, uuid.Nil, bad
	}
	atText, idText, ok := strings.Cut(rest, "|")
	if !ok {
		return time.Time{}, uuid.Nil, bad
	}
	at, err := time.Parse(time.RFC3339Nano, atText)
	if err != nil {
		return time.Time{}, uuid.Nil, bad
	}
	id, err := uuid.Parse(idText)
	if err != nil {
		return time.Time{}, uuid.Nil, bad
	}
	return at, id, nil
}

// ProtecteeCursor is a protectee's cursor in Protectees.
func ProtecteeCursor(p Protectee) string { return encodeCursor(protecteeCursorKind, p.CreatedAt, p.ID) }

// DetailCursor is a detail's cursor in Details.
func DetailCursor(d Detail) string { return encodeCursor(detailCursorKind, d.CreatedAt, d.ID) }

// CheckInCursor is a check-in's cursor in CheckIns.
func CheckInCursor(c CheckIn) string { return encodeCursor(checkInCursorKind, c.At, c.ID) }

// AccessCursor is an entry's cursor in AccessLog.
func AccessCursor(a Access) string {
	return base64.RawURLEncoding.EncodeToString([]byte(accessCursorKind + ":" + strconv.FormatInt(a.ID, 10)))
}

func decodeAccessCursor(cursor string) (int64, error) {
	bad := fault.Invalid("after", "is not a cursor from this list")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, bad
	}
	rest, ok := strings.CutPrefix(string(raw), accessCursorKind+":")
	if !ok {
		return 0, bad
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id <= 0 {
		return 0, bad
	}
	return id, nil
}

// page trims a list read with first+1 rows to first, and says whether more
// follow.
func page[T any](list []T, first int) ([]T, bool) {
	if len(list) > first {
		return list[:first], true
	}
	return list, false
}
