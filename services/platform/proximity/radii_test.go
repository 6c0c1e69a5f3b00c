package proximity

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"meridian.dev/platform/fault"
	"meridian.dev/platform/testenv"
)

func TestSetRadiusRefusesBadInputAndChangesNothing(t *testing.T) {
	pool := testenv.NewPool(t)
	ctx := context.Background()
	radii := NewRadii(pool)
	before, err := radii.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		kind, asset string
		km          float64
		field       string
	}{
		{"", "SITE", 5, "kind"},
		{"1FIRE", "SITE", 5, "kind"},
		{"FIRE ZONE", "SITE", 5, "kind"},
		{"A" + strings.Repeat("B", 40), "SITE", 5, "kind"},
		{"**", "SITE", 5, "kind"},
		{"FIRE", "BUILDING", 5, "assetType"},
		{"FIRE", "", 5, "assetType"},
		{"FIRE", "SITE", 0, "radiusKm"},
		{"FIRE", "SITE", -1, "radiusKm"},
		{"FIRE", "SITE", 2000.001, "radiusKm"},
		{"FIRE", "SITE", math.NaN(), "radiusKm"},
		{"FIRE", "SITE", math.Inf(1), "radiusKm"},
	}
	for _, c := range cases {
		_, err := radii.Set(ctx, "admin-1", c.kind, c.asset, c.km)
		var f *fault.Error
		if !errors.As(err, &f) || f.Code != fault.BadUserInput || f.Field != c.field {
			t.Errorf("Set(%q, %q, %v): err %v, want BAD_USER_INPUT on %s", c.kind, c.asset, c.km, err, c.field)
		}
	}
	after, err := radii.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("radii changed: %d rows, were %d", len(after), len(before))
	}
	for i := range before {
		if after[i] != before[i] {
			t.Errorf("radius %d changed: %+v, was %+v", i, after[i], before[i])
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM audit_log WHERE action = 'proximity.set_radius'`); n != 0 {
		t.Errorf("%d audit rows after refusals, want 0", n)
	}
}

func TestSetRadiusUpsertsWithAudit(t *testing.T) {
	pool := testenv.NewPool(t)
	ctx := context.Background()
	radii := NewRadii(pool)

	// An existing row, named in lower case: kinds are upper-cased.
	got, err := radii.Set(ctx, "admin-1", " fire ", "SITE", 3.5)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != "FIRE" || got.AssetType != "SITE" || got.RadiusKm != 3.5 || got.UpdatedBy != "admin-1" || got.UpdatedAt.IsZero() {
		t.Errorf("saved %+v", got)
	}
	// A new kind, at the upper bound.
	if _, err := radii.Set(ctx, "admin-2", "VOLCANO", "TRAVELLER", 2000); err != nil {
		t.Fatal(err)
	}
	// The default kind itself may be changed.
	if _, err := radii.Set(ctx, "admin-2", "*", "DETAIL", 12); err != nil {
		t.Fatal(err)
	}

	type logged struct {
		actor, objectID string
		before, after   []byte
	}
	rows, err := pool.Query(ctx, `SELECT actor, object_id, before, after FROM audit_log
		WHERE action = 'proximity.set_radius' AND object_type = 'ImpactRadius' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var entries []logged
	for rows.Next() {
		var l logged
		if err := rows.Scan(&l.actor, &l.objectID, &l.before, &l.after); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d audit rows, want 3", len(entries))
	}
	decode := func(b []byte) Radius {
		var r Radius
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("audit json %s: %v", b, err)
		}
		return r
	}
	if e := entries[0]; e.actor != "admin-1" || e.objectID != "FIRE/SITE" || decode(e.before).RadiusKm != 2 || decode(e.after).RadiusKm != 3.5 {
		t.Errorf("first entry: %s %s before %s after %s", e.actor, e.objectID, e.before, e.after)
	}
	if e := entries[1]; e.objectID != "VOLCANO/TRAVELLER" || e.before != nil || decode(e.after).RadiusKm != 2000 {
		t.Errorf("new kind entry: %s before %s after %s", e.objectID, e.before, e.after)
	}
	if e := entries[2]; e.objectID != "*/DETAIL" || decode(e.before).RadiusKm != 10 || decode(e.after).RadiusKm != 12 {
		t.Errorf("default kind entry: %s before %s after %s", e.objectID, e.before, e.after)
	}
}

func TestListRadiiOrder(t *testing.T) {
	pool := testenv.NewPool(t)
	list, err := NewRadii(pool).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// 9 kinds are seeded with 3 asset types each.
	if len(list) != 27 {
		t.Fatalf("%d radii, want 27", len(list))
	}
	var head []string
	for _, r := range list[:6] {
		head = append(head, r.Kind+"/"+r.AssetType)
	}
	want := "*/SITE */TRAVELLER */DETAIL EARTHQUAKE/SITE EARTHQUAKE/TRAVELLER EARTHQUAKE/DETAIL"
	if strings.Join(head, " ") != want {
		t.Errorf("order %v, want %s", head, want)
	}
	if last := list[len(list)-1]; last.Kind != "UNREST" || last.AssetType != "DETAIL" || last.UpdatedBy != "migration" {
		t.Errorf("last %+v", last)
	}
}

func TestRadiusForFallsBackToDefaultKind(t *testing.T) {
	pool := testenv.NewPool(t)
	ctx := context.Background()
	radii := NewRadii(pool)
	for _, c := range []struct {
		kind, asset string
		want        float64
	}{
		{"EARTHQUAKE", "SITE", 100},
		{"earthquake", "TRAVELLER", 150},
		{"VOLCANO", "SITE", 5}, // no VOLCANO rows: '*'
		{"VOLCANO", "TRAVELLER", 10},
		{"*", "DETAIL", 10},
	} {
		got, err := radii.For(ctx, c.kind, c.asset)
		if err != nil || got != c.want {
			t.Errorf("For(%s, %s) = %v, %v; want %v", c.kind, c.asset, got, err, c.want)
		}
	}
	if _, err := radii.Set(ctx, "admin-1", "VOLCANO", "SITE", 40); err != nil {
		t.Fatal(err)
	}
	if got, err := radii.For(ctx, "VOLCANO", "SITE"); err != nil || got != 40 {
		t.Errorf("after Set: For(VOLCANO, SITE) = %v, %v; want 40", got, err)
	}
	if _, err := radii.For(ctx, "VOLCANO", "BUILDING"); fault.CodeOf(err) != fault.BadUserInput {
		t.Errorf("unknown asset type: %v", err)
	}
}
