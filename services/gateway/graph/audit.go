package graph

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"
	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/policy"
)

// auditRoot resolves the audit log (40_audit.graphql) for the people who
// answer for it: auditors, global leads and admins.
type auditRoot struct {
	*env
	log *audit.Reader
}

type auditLogArgs struct {
	ObjectID *graphql.ID
	Actor    *string
	Action   *string
	Since    *graphql.Time
	Until    *graphql.Time
	First    graphql.NullInt
	After    *string
}

// AuditLog resolves Query.auditLog, newest first.
func (r *auditRoot) AuditLog(ctx context.Context, args auditLogArgs) (*connection[*auditEntryResolver], error) {
	id, err := r.viewer(ctx)
	if err != nil {
		return nil, err
	}
	if err := policy.Allow(id, policy.ReadAudit, ""); err != nil {
		return nil, err
	}
	first, err := pageSize(args.First, 50)
	if err != nil {
		return nil, err
	}
	// A restricted incident's trail is the global leads' to read (and the
	// people it names, who are not auditors): auditors and admins do not
	// see it.
	f := audit.Filter{Actor: deref(args.Actor, ""), Action: deref(args.Action, ""), Viewer: id}
	if args.ObjectID != nil && *args.ObjectID != "" {
		// A global ID names its kind too; anything else is an ID as the
		// log stores it (a person's subject, a rotation's ID).
		if kind, raw, ok := decodeID(*args.ObjectID); ok {
			f.ObjectType, f.ObjectID = kind, raw.String()
		} else {
			f.ObjectID = string(*args.ObjectID)
		}
	}
	if f.Since, err = instant("since", args.Since, time.Time{}); err != nil {
		return nil, err
	}
	if f.Until, err = instant("until", args.Until, time.Time{}); err != nil {
		return nil, err
	}
	var after int64
	if c := deref(args.After, ""); c != "" {
		if after, err = strconv.ParseInt(c, 10, 64); err != nil || after <= 0 {
			return nil, fault.Invalid("after", "is not a cursor from this list")
		}
	}
	entries, more, err := r.log.List(ctx, f, first, after)
	if err != nil {
		return nil, err
	}
	return newConnection(entries, func(_ int, e audit.Logged) string { return strconv.FormatInt(e.ID, 10) }, more,
		func(e audit.Logged) *auditEntryResolver { return &auditEntryResolver{nodes: r.nodes, e: e} }), nil
}

type auditEntryResolver struct {
	nodes nodeKinds
	e     audit.Logged
}

func (a *auditEntryResolver) At() graphql.Time   { return graphql.Time{Time: a.e.At} }
func (a *auditEntryResolver) Actor() string      { return a.e.Actor }
func (a *auditEntryResolver) Action() string     { return a.e.Action }
func (a *auditEntryResolver) ObjectType() string { return a.e.ObjectType }
func (a *auditEntryResolver) ObjectID() string   { return a.e.ObjectID }
func (a *auditEntryResolver) TraceID() string    { return a.e.TraceID }
func (a *auditEntryResolver) Before() *JSON      { return jsonOrNil(a.e.Before) }
func (a *auditEntryResolver) After() *JSON       { return jsonOrNil(a.e.After) }

// Object is the audited object, when its kind is a node and it still
// exists.
func (a *auditEntryResolver) Object(ctx context.Context) (*nodeResolver, error) {
	raw, err := uuid.Parse(a.e.ObjectID)
	if err != nil {
		return nil, nil // a person's subject, not a node's ID
	}
	return a.nodes.find(ctx, a.e.ObjectType, raw)
}

// JSON is the JSON scalar: a value passed through as it was stored.
type JSON struct{ raw json.RawMessage }

// ImplementsGraphQLType maps JSON onto the schema's JSON scalar.
func (JSON) ImplementsGraphQLType(name string) bool { return name == "JSON" }

// UnmarshalGraphQL is required of a scalar; no input takes JSON.
func (j *JSON) UnmarshalGraphQL(input any) error {
	data, err := json.Marshal(input)
	if err != nil {
		return err
	}
	j.raw = data
	return nil
}

// MarshalJSON writes the stored value as it is.
func (j JSON) MarshalJSON() ([]byte, error) {
	if len(j.raw) == 0 {
		return []byte("null"), nil
	}
	return j.raw, nil
}

func jsonOrNil(raw json.RawMessage) *JSON {
	if len(raw) == 0 {
		return nil
	}
	return &JSON{raw}
}
