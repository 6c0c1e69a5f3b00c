package graph

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/google/uuid"
	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/fault"
)

// Global IDs are opaque to clients: base64url of "Kind:uuid".
const (
	kindSite       = "Site"
	kindEscalation = "Escalation"
	kindIncident   = "Incident"
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

// node is any object with a global ID.
type node interface{ ID() graphql.ID }

// nodeKinds finds an object by its global ID's kind: each domain root
// registers the kinds it owns, so node(id:) never grows a switch. A loader
// answers errNoNode for an ID whose object does not exist.
type nodeKinds map[string]func(ctx context.Context, id uuid.UUID) (node, error)

var errNoNode = errors.New("no such node")

// nodeOrNil turns a domain's "not found" into the nil node the API answers.
func nodeOrNil[R node](r R, err error, notFound error) (node, error) {
	if errors.Is(err, notFound) {
		return nil, errNoNode
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Node resolves Query.node: any registered kind, or null when the object
// does not exist.
func (r *viewerRoot) Node(ctx context.Context, args struct{ ID graphql.ID }) (*nodeResolver, error) {
	if _, err := r.viewer(ctx); err != nil {
		return nil, err
	}
	kind, id, ok := decodeID(args.ID)
	if _, known := r.nodes[kind]; !ok || !known {
		return nil, fault.Invalid("id", "is not a Meridian ID")
	}
	return r.nodes.find(ctx, kind, id)
}

// find loads the object of a registered kind: nil when the kind is not a
// node or the object is gone.
func (k nodeKinds) find(ctx context.Context, kind string, id uuid.UUID) (*nodeResolver, error) {
	load, ok := k[kind]
	if !ok {
		return nil, nil
	}
	n, err := load(ctx, id)
	if errors.Is(err, errNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &nodeResolver{n}, nil
}

// nodeResolver is the Node interface; graphql-go asks it, through one ToX
// method per type implementing Node, which object it holds.
type nodeResolver struct{ n node }

func (n *nodeResolver) ID() graphql.ID { return n.n.ID() }

func (n *nodeResolver) ToSite() (*siteResolver, bool) {
	s, ok := n.n.(*siteResolver)
	return s, ok
}

func (n *nodeResolver) ToIncident() (*incidentResolver, bool) {
	i, ok := n.n.(*incidentResolver)
	return i, ok
}

func (n *nodeResolver) ToEscalation() (*escalationResolver, bool) {
	e, ok := n.n.(*escalationResolver)
	return e, ok
}

func (n *nodeResolver) ToTrip() (*tripResolver, bool) {
	t, ok := n.n.(*tripResolver)
	return t, ok
}
