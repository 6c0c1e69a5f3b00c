package graph

import (
	"context"
	"errors"

	graphql "github.com/graph-gophers/graphql-go"
	schemaast "github.com/graph-gophers/graphql-go/ast"
	"github.com/vektah/gqlparser/v2/ast"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/live"
	"meridian.dev/platform/protection"
)

// DetailUpdated resolves Subscription.detailUpdated, for cleared callers
// only: Hidden is NOT_FOUND and Masked FORBIDDEN, decided now; and again
// for every event, on the detail as it is then, so that someone taken off
// the detail (or whose detail ended) stops receiving it at the next event,
// with FORBIDDEN, whatever fields they selected.
func (r *protectionRoot) DetailUpdated(ctx context.Context, args struct {
	DetailID graphql.ID
	After    *string
}) (<-chan *detailEventResolver, error) {
	v, err := r.view(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseID(args.DetailID, kindDetail, "detailId")
	if err != nil {
		return nil, err
	}
	if _, err := v.clearedDetail(ctx, id); err != nil {
		return nil, err
	}
	return stream(ctx, r.hub, protection.DetailUpdates, protection.DetailStreamKey(id), deref(args.After, ""),
		func(d live.Delivered[protection.DetailChanged]) *detailEventResolver {
			ev := &detailEventResolver{ev: d.Event, cursor: d.Cursor}
			x, err := r.viewIn(v.id, nil).clearedDetail(ctx, id)
			switch {
			case err == nil:
				ev.detail = x
			case errors.Is(err, protection.ErrNotCleared), errors.Is(err, protection.ErrDetailNotFound):
				ev.err = protection.ErrNotCleared
			default:
				ev.err = err // INTERNAL: the subscription ends, the client resumes from its cursor
			}
			return ev
		})
}

// detailEventResolver is one event of detailUpdated. When the subscriber is
// no longer cleared every field selected fails with the same error, so
// that the event (non-null) fails whole, whichever fields were selected,
// and the transport ends the subscription with it.
type detailEventResolver struct {
	ev     protection.DetailChanged
	cursor string
	detail *detailResolver
	err    error
}

func (x *detailEventResolver) Cursor() (string, error) { return x.cursor, x.err }
func (x *detailEventResolver) Kind() (string, error)   { return x.ev.Kind, x.err }
func (x *detailEventResolver) At() (graphql.Time, error) {
	return graphql.Time{Time: x.ev.At}, x.err
}
func (x *detailEventResolver) Detail() (*detailResolver, error) { return x.detail, x.err }

// affectedDetails are the details an incident's DETAIL radius covers, as
// far as the caller may see them: details they stand Hidden on are left
// out, and the distance (which gives the position away) is for cleared
// callers only.
func (r *protectionRoot) affectedDetails(ctx context.Context, inc incident.Incident) ([]*affectedDetailResolver, error) {
	out := []*affectedDetailResolver{}
	if inc.Location == nil || r.store == nil {
		return out, nil
	}
	id, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	near, err := r.store.Near(ctx, inc.Kind, protection.Point{Latitude: inc.Location.Latitude, Longitude: inc.Location.Longitude}, inc.CreatedAt)
	if err != nil {
		return nil, err
	}
	v := r.viewIn(id, loadersOf(ctx))
	ds := make([]protection.Detail, len(near))
	for i, a := range near {
		ds[i] = a.Detail
	}
	v.wantDetails(ds)
	for _, a := range near {
		x := v.detailResolver(a.Detail)
		st, err := x.standing(ctx)
		if err != nil {
			return nil, err
		}
		if st != protection.Hidden {
			out = append(out, &affectedDetailResolver{d: x, km: a.DistanceKm, via: a.Via})
		}
	}
	return out, nil
}

type affectedDetailResolver struct {
	d   *detailResolver
	km  float64
	via string
}

func (x *affectedDetailResolver) Detail() *detailResolver { return x.d }
func (x *affectedDetailResolver) Via() string             { return x.via }
func (x *affectedDetailResolver) DistanceKm(ctx context.Context) (*float64, error) {
	if ok, err := x.d.reveal(ctx, protection.FieldAffectedDistance); !ok || err != nil {
		return nil, err
	}
	km := x.km
	return &km, nil
}

// perCallerTypes are the types whose answers depend on who asks, not only
// on their roles and regions: every object type of 60_protection.graphql
// (a test holds the list to the file), decided by clearance on each
// protectee. A document that selects a field of one of them cannot share
// its execution with another subscriber's (see PerCaller).
var perCallerTypes = map[string]bool{
	"Protectee": true, "ProtecteeProfile": true, "MedicalNotes": true, "EmergencyContact": true, "Vehicle": true,
	"Detail": true, "LastCheckIn": true, "Position": true, "Movement": true, "SafeHaven": true, "NearbySafeHaven": true,
	"AdvanceNote": true, "CheckIn": true, "CheckInConnection": true, "CheckInEdge": true, "DetailStep": true,
	"ProtecteeConnection": true, "ProtecteeEdge": true, "DetailConnection": true, "DetailEdge": true,
	"DetailUpdatedEvent": true, "AffectedDetail": true, "ProtectionAccess": true, "ProtectionAccessConnection": true,
	"ProtectionAccessEdge": true, "ProtecteePayload": true, "DetailPayload": true, "MovementPayload": true,
	"SafeHavenPayload": true, "AdvanceNotePayload": true, "ReportPositionPayload": true, "CheckInReceipt": true,
	"CheckInPayload": true, "SetCheckInCodesPayload": true,
}

// PerCaller reports whether the operation's answer depends on the caller's
// own identity (their clearance on protectees), so that it must not be
// shared with other callers of the same roles and regions. A document that
// cannot be read is per caller: sharing is an optimisation, never a
// default.
func (s *Schema) PerCaller(query, operationName string) bool {
	p, ok := s.guard.parse(query)
	if !ok {
		return true
	}
	op := pickOperation(p.doc, operationName)
	if op == nil {
		return true
	}
	root := s.guard.schema.RootOperationTypes[string(op.Operation)]
	if root == nil {
		return true
	}
	w := perCallerWalk{schema: s.guard.schema, doc: p.doc, spread: map[string]bool{}}
	return w.selects(op.SelectionSet, root)
}

type perCallerWalk struct {
	schema *schemaast.Schema
	doc    *ast.QueryDocument
	spread map[string]bool // fragments walked already
}

// selects walks set, selected on parent, through fragments (each once),
// for a field or a fragment of a per-caller type.
func (w *perCallerWalk) selects(set ast.SelectionSet, parent schemaast.NamedType) bool {
	for _, sel := range set {
		switch f := sel.(type) {
		case *ast.Field:
			def := fieldDefinition(parent, f.Name)
			if def == nil {
				continue // __typename, introspection, or unknown (refused anyway)
			}
			if t := namedOf(def.Type); t != nil && w.typed(f.SelectionSet, t.TypeName()) {
				return true
			}
		case *ast.InlineFragment:
			if f.TypeCondition == "" {
				if w.selects(f.SelectionSet, parent) {
					return true
				}
			} else if w.typed(f.SelectionSet, f.TypeCondition) {
				return true
			}
		case *ast.FragmentSpread:
			def := w.doc.Fragments.ForName(f.Name)
			if def == nil || w.spread[f.Name] {
				continue
			}
			w.spread[f.Name] = true
			if w.typed(def.SelectionSet, def.TypeCondition) {
				return true
			}
		}
	}
	return false
}

// typed is selects on the type called name.
func (w *perCallerWalk) typed(set ast.SelectionSet, name string) bool {
	if perCallerTypes[name] {
		return true
	}
	t, ok := w.schema.Types[name]
	return ok && w.selects(set, t)
}
