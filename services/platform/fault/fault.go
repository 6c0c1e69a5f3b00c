// Package fault carries the error kinds every Meridian domain shares. Domains
// declare their sentinels with it (site.ErrNotFound); the gateway maps each
// kind once to a stable GraphQL extensions.code.
package fault

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Code is the stable, client-visible kind of an error.
type Code string

const (
	Unauthenticated Code = "UNAUTHENTICATED"
	Forbidden       Code = "FORBIDDEN"
	NotFound        Code = "NOT_FOUND"
	BadUserInput    Code = "BAD_USER_INPUT"
	Conflict        Code = "CONFLICT"
	RateLimited     Code = "RATE_LIMITED"
	Internal        Code = "INTERNAL"
)

// Error is an error whose message is safe to show to the caller.
type Error struct {
	Code    Code
	Message string
	// Field names the input field at fault, for BAD_USER_INPUT.
	Field string
}

func (e *Error) Error() string { return e.Message }

// Is makes errors.Is match two faults of the same code and message, so a
// sentinel still matches after it has been wrapped or copied.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == e.Message && t.Field == e.Field
}

// New returns a fault with a fixed message.
func New(code Code, msg string) *Error { return &Error{Code: code, Message: msg} }

// Invalid reports a bad value in one input field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: BadUserInput, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of the first fault in err's chain, or Internal.
func CodeOf(err error) Code {
	var f *Error
	if errors.As(err, &f) {
		return f.Code
	}
	return Internal
}

// CheckText refuses text that PostgreSQL cannot store (a NUL character, or
// bytes that are not UTF-8), naming the field, so it is the caller's
// mistake (BAD_USER_INPUT) rather than a failed write (INTERNAL).
func CheckText(field, s string) error {
	switch {
	case !utf8.ValidString(s):
		return Invalid(field, "is not valid UTF-8 text")
	case strings.IndexByte(s, 0) >= 0:
		return Invalid(field, "must not contain a NUL character")
	}
	return nil
}

// CheckTimezone accepts only IANA zone names and returns the name trimmed:
// "" and "Local" load too, but mean the server's zone, not the place's.
func CheckTimezone(field, tz string) (string, error) {
	tz = strings.TrimSpace(tz)
	if tz == "" {
		return "", Invalid(field, "is required, for example Europe/London")
	}
	if tz == "Local" || strings.IndexByte(tz, 0) >= 0 {
		return "", Invalid(field, "must be an IANA time zone such as Europe/London, not Local")
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return "", Invalid(field, "%q is not an IANA time zone", tz)
	}
	return tz, nil
}
