package graph

import (
	"context"
	"errors"

	"github.com/google/uuid"
	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/directory"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/protection"
)

// Global ID kinds of the protection domain. Protectees and details are
// nodes; the others are named by the same encoding so that a client can
// pass them back (updateMovement, addAdvanceNote).
const (
	kindProtectee   = "Protectee"
	kindDetail      = "Detail"
	kindMovement    = "Movement"
	kindSafeHaven   = "SafeHaven"
	kindAdvanceNote = "AdvanceNote"
	kindCheckIn     = "CheckIn"
)

// protectionRoot resolves executive protection (60_protection.graphql).
// Need-to-know is decided per protectee by protection.ProtecteeStanding and
// DetailStanding on all its details: Hidden is NOT_FOUND (the same answer
// as for an ID that names nothing), Masked reads sensitive fields as null
// and names them in maskedFields, Cleared reads everything, and every
// sensitive field returned is noted for the access log (noteRead).
type protectionRoot struct {
	*env
	store     *protection.Store
	directory *directory.Store
}

func newProtectionRoot(e *env, store *protection.Store, dir *directory.Store) *protectionRoot {
	r := &protectionRoot{env: e, store: store, directory: dir}
	e.nodes[kindProtectee] = func(ctx context.Context, id uuid.UUID) (node, error) {
		v, err := r.view(ctx)
		if err != nil {
			return nil, err
		}
		p, err := v.protectee(ctx, id)
		return nodeOrNil(p, err, protection.ErrProtecteeNotFound)
	}
	e.nodes[kindDetail] = func(ctx context.Context, id uuid.UUID) (node, error) {
		v, err := r.view(ctx)
		if err != nil {
			return nil, err
		}
		d, err := v.detail(ctx, id)
		return nodeOrNil(d, err, protection.ErrDetailNotFound)
	}
	return r
}

func (n *nodeResolver) ToProtectee() (*protecteeResolver, bool) {
	p, ok := n.n.(*protecteeResolver)
	return p, ok
}

func (n *nodeResolver) ToDetail() (*detailResolver, bool) {
	d, ok := n.n.(*detailResolver)
	return d, ok
}

// view is what one caller may see of protection within one request, or one
// event of a subscription: who they are, and the loaders their standings
// are decided with. Every object resolver keeps the view it was made in.
type view struct {
	root *protectionRoot
	id   auth.Identity
	ls   *loaders
}

// view is the caller's view within the request's loaders.
func (r *protectionRoot) view(ctx context.Context) (*view, error) {
	id, err := r.viewer(ctx)
	if err != nil {
		return nil, err
	}
	return r.viewIn(id, loadersOf(ctx)), nil
}

// viewIn is id's view with the loaders ls (fresh ones when nil): a
// subscription's events and a mutation's answer each read with fresh
// loaders, so a standing is never decided on details read before a change.
func (r *protectionRoot) viewIn(id auth.Identity, ls *loaders) *view {
	if ls == nil {
		ls = newLoaders()
	}
	return &view{root: r, id: id, ls: ls}
}

// detailsOf is every detail of each protectee, for standings: one read for
// all the protectees a request wants (wantDetailsOf), never one each.
func (v *view) detailsOf(ctx context.Context, protecteeID uuid.UUID) ([]protection.Detail, error) {
	return v.detailsLoader().load(ctx, protecteeID)
}

func (v *view) detailsLoader() *loader[uuid.UUID, []protection.Detail] {
	return loaderFor(v.ls, "protection-details-of", nil, withEmpty(v.root.store.DetailsOf))
}

// wantDetailsOf registers the protectees a list will decide standings on.
func (v *view) wantDetailsOf(ids ...uuid.UUID) { v.detailsLoader().want(ids...) }

func (v *view) protecteeStanding(ctx context.Context, protecteeID uuid.UUID) (protection.Standing, error) {
	all, err := v.detailsOf(ctx, protecteeID)
	if err != nil {
		return protection.Hidden, err
	}
	return protection.ProtecteeStanding(v.id, all), nil
}

func (v *view) detailStanding(ctx context.Context, d protection.Detail) (protection.Standing, error) {
	all, err := v.detailsOf(ctx, d.ProtecteeID)
	if err != nil {
		return protection.Hidden, err
	}
	return protection.DetailStanding(v.id, d, all), nil
}

// protectee loads a protectee the caller may see: one they stand Hidden on
// is ErrProtecteeNotFound, word for word what an unknown ID gets.
func (v *view) protectee(ctx context.Context, id uuid.UUID) (*protecteeResolver, error) {
	v.wantDetailsOf(id)
	p, err := v.protecteesLoader().load(ctx, id)
	if err != nil {
		return nil, err
	}
	st, err := v.protecteeStanding(ctx, id)
	if err != nil {
		return nil, err
	}
	if st == protection.Hidden {
		return nil, protection.ErrProtecteeNotFound
	}
	return &protecteeResolver{v: v, p: p}, nil
}

// detail loads a detail the caller may see, with its standing; Hidden is
// ErrDetailNotFound, as for an unknown ID.
func (v *view) detail(ctx context.Context, id uuid.UUID) (*detailResolver, error) {
	d, err := loaderFor(v.ls, "protection-details", protection.ErrDetailNotFound, v.root.store.DetailsByID).load(ctx, id)
	if err != nil {
		return nil, err
	}
	x := v.detailResolver(d)
	st, err := x.standing(ctx)
	if err != nil {
		return nil, err
	}
	if st == protection.Hidden {
		return nil, protection.ErrDetailNotFound
	}
	return x, nil
}

// clearedDetail loads a detail the caller is cleared for: Hidden is
// NOT_FOUND, Masked is FORBIDDEN (ErrNotCleared).
func (v *view) clearedDetail(ctx context.Context, id uuid.UUID) (*detailResolver, error) {
	x, err := v.detail(ctx, id)
	if err != nil {
		return nil, err
	}
	st, err := x.standing(ctx)
	if err != nil {
		return nil, err
	}
	if st != protection.Cleared {
		return nil, protection.ErrNotCleared
	}
	return x, nil
}

func (v *view) detailResolver(d protection.Detail) *detailResolver {
	return &detailResolver{v: v, d: d}
}

// Protectee resolves Query.protectee.
func (r *protectionRoot) Protectee(ctx context.Context, args struct{ ID graphql.ID }) (*protecteeResolver, error) {
	v, err := r.view(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseID(args.ID, kindProtectee, "id")
	if err != nil {
		return nil, err
	}
	return v.protectee(ctx, id)
}

// Detail resolves Query.detail.
func (r *protectionRoot) Detail(ctx context.Context, args struct{ ID graphql.ID }) (*detailResolver, error) {
	v, err := r.view(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseID(args.ID, kindDetail, "id")
	if err != nil {
		return nil, err
	}
	return v.detail(ctx, id)
}

type pageArgs struct {
	First graphql.NullInt
	After *string
}

// Protectees resolves Query.protectees: the store lists only those the
// caller stands Masked or Cleared on.
func (r *protectionRoot) Protectees(ctx context.Context, args pageArgs) (*connection[*protecteeResolver], error) {
	v, err := r.view(ctx)
	if err != nil {
		return nil, err
	}
	first, err := pageSize(args.First, 50)
	if err != nil {
		return nil, err
	}
	items, hasNext, err := r.store.Protectees(ctx, v.id, first, deref(args.After, ""))
	if err != nil {
		return nil, err
	}
	for _, p := range items {
		v.wantDetailsOf(p.ID)
	}
	return newConnection(items, func(_ int, p protection.Protectee) string { return protection.ProtecteeCursor(p) }, hasNext,
		func(p protection.Protectee) *protecteeResolver { return &protecteeResolver{v: v, p: p} }), nil
}

// Details resolves Query.details.
func (r *protectionRoot) Details(ctx context.Context, args struct {
	Status *string
	Region *string
	First  graphql.NullInt
	After  *string
}) (*connection[*detailResolver], error) {
	v, err := r.view(ctx)
	if err != nil {
		return nil, err
	}
	first, err := pageSize(args.First, 50)
	if err != nil {
		return nil, err
	}
	region, err := r.regions.check(ctx, "region", args.Region)
	if err != nil {
		return nil, err
	}
	items, hasNext, err := r.store.Details(ctx, v.id, protection.DetailFilter{Status: deref(args.Status, ""), Region: region}, first, deref(args.After, ""))
	if err != nil {
		return nil, err
	}
	v.wantDetails(items)
	return newConnection(items, func(_ int, d protection.Detail) string { return protection.DetailCursor(d) }, hasNext, v.detailResolver), nil
}

// wantDetails registers what a list of details will read, so each kind is
// one read for the whole list.
func (v *view) wantDetails(items []protection.Detail) {
	ids := make([]uuid.UUID, len(items))
	for i, d := range items {
		v.wantDetailsOf(d.ProtecteeID)
		v.protecteesLoader().want(d.ProtecteeID)
		v.namesLoader().want(d.Leader)
		v.namesLoader().want(d.Agents...)
		ids[i] = d.ID
	}
	v.movementsLoader().want(ids...)
	v.havensLoader().want(ids...)
	v.notesLoader().want(ids...)
	v.positionsLoader().want(ids...)
}

func (v *view) protecteesLoader() *loader[uuid.UUID, protection.Protectee] {
	return loaderFor(v.ls, "protectees", protection.ErrProtecteeNotFound, v.root.store.ProtecteesByID)
}

// NearestSafeHavens resolves Query.nearestSafeHavens, for cleared callers
// only: distances from the last position give the position away.
func (r *protectionRoot) NearestSafeHavens(ctx context.Context, args struct {
	DetailID graphql.ID
	First    graphql.NullInt
}) ([]*nearbyHavenResolver, error) {
	v, err := r.view(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseID(args.DetailID, kindDetail, "detailId")
	if err != nil {
		return nil, err
	}
	first, err := pageSize(args.First, 5)
	if err != nil {
		return nil, err
	}
	x, err := v.clearedDetail(ctx, id)
	if err != nil {
		return nil, err
	}
	near, err := r.store.NearestSafeHavens(ctx, id, first)
	if err != nil {
		return nil, err
	}
	if err := x.noteRead(ctx, protection.FieldNearestSafeHavens); err != nil {
		return nil, err
	}
	out := make([]*nearbyHavenResolver, len(near))
	for i, n := range near {
		out[i] = &nearbyHavenResolver{haven: &safeHavenResolver{d: x, h: n.SafeHaven}, km: n.DistanceKm}
	}
	return out, nil
}

// ProtectionAccessLog resolves Query.protectionAccessLog (auditors, global
// leads, admins).
func (r *protectionRoot) ProtectionAccessLog(ctx context.Context, args struct {
	ProtecteeID *graphql.ID
	First       graphql.NullInt
	After       *string
}) (*connection[*accessResolver], error) {
	v, err := r.view(ctx)
	if err != nil {
		return nil, err
	}
	if err := protection.Allow(v.id, protection.ReadAccessLog, nil, nil); err != nil {
		return nil, err
	}
	first, err := pageSize(args.First, 50)
	if err != nil {
		return nil, err
	}
	var pid *uuid.UUID
	if args.ProtecteeID != nil {
		id, err := parseID(*args.ProtecteeID, kindProtectee, "protecteeId")
		if err != nil {
			return nil, err
		}
		pid = &id
	}
	items, hasNext, err := r.store.AccessLog(ctx, pid, first, deref(args.After, ""))
	if err != nil {
		return nil, err
	}
	return newConnection(items, func(_ int, a protection.Access) string { return protection.AccessCursor(a) }, hasNext,
		func(a protection.Access) *accessResolver { return &accessResolver{v: v, a: a} }), nil
}

// person names someone, with one directory read per request for everyone
// its answer names.
func (v *view) person(ctx context.Context, subject string) *personResolver {
	name, err := v.namesLoader().load(ctx, subject)
	if err != nil || name == "" {
		name = subject
	}
	return &personResolver{subject: subject, name: name}
}

// namesLoader is the request's directory names, shared with the other
// domains' (trips name travellers the same way).
func (v *view) namesLoader() *loader[string, string] {
	return loaderFor(v.ls, "person-names", nil, func(ctx context.Context, subjects []string) (map[string]string, error) {
		return v.root.directory.Names(ctx, subjects)
	})
}

// concealed turns a refusal to act on a detail into the detail's NOT_FOUND
// when the caller stands Hidden on it: whether a detail exists is itself
// need-to-know. Only refusals are re-read (with fresh loaders: the request
// may have changed the detail), so an accepted change costs nothing more.
func (v *view) concealed(ctx context.Context, detailID uuid.UUID, err error) error {
	if code := fault.CodeOf(err); code != fault.Forbidden && code != fault.Conflict {
		return err
	}
	d, derr := v.root.store.Detail(ctx, detailID)
	if derr != nil {
		return err
	}
	st, serr := v.root.viewIn(v.id, nil).detailStanding(ctx, d)
	if serr == nil && st == protection.Hidden {
		return protection.ErrDetailNotFound
	}
	return err
}

// concealedMovement is concealed for a change to a movement: a movement of
// a detail the caller may not see is as unknown as the detail.
func (v *view) concealedMovement(ctx context.Context, movementID uuid.UUID, err error) error {
	if code := fault.CodeOf(err); code != fault.Forbidden && code != fault.Conflict {
		return err
	}
	detailID, derr := v.root.store.MovementDetail(ctx, movementID)
	if derr != nil {
		return err
	}
	if errors.Is(v.concealed(ctx, detailID, err), protection.ErrDetailNotFound) {
		return protection.ErrMovementNotFound
	}
	return err
}

// concealedProtectee is concealed for a change to a protectee.
func (v *view) concealedProtectee(ctx context.Context, protecteeID uuid.UUID, err error) error {
	if code := fault.CodeOf(err); code != fault.Forbidden && code != fault.Conflict {
		return err
	}
	st, serr := v.root.viewIn(v.id, nil).protecteeStanding(ctx, protecteeID)
	if serr == nil && st == protection.Hidden {
		return protection.ErrProtecteeNotFound
	}
	return err
}
