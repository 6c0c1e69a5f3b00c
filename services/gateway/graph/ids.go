package graph

import (
	"encoding/base64"
	"strings"

	"github.com/google/uuid"
	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/fault"
)

// Global IDs are opaque to clients: base64url of "Kind:uuid".
const (
	kindSite       = "Site"
	kindEscalation = "Escalation"
)

func encodeID(kind string, id uuid.UUID) graphql.ID {
	return graphql.ID(base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + id.String())))
}

func decodeID(id graphql.ID) (kind string, raw uuid.UUID, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(string(id))
	if err != nil {
		return "", uuid.Nil, false
	}
	kind, rest, found := strings.Cut(string(b), ":")
	if !found {
		return "", uuid.Nil, false
	}
	raw, err = uuid.Parse(rest)
	return kind, raw, err == nil
}

// parseID decodes an ID that must name an object of kind; field names the
// input field in the error.
func parseID(id graphql.ID, kind, field string) (uuid.UUID, error) {
	k, raw, ok := decodeID(id)
	if !ok || k != kind {
		return uuid.Nil, fault.Invalid(field, "is not a %s ID", kind)
	}
	return raw, nil
}
