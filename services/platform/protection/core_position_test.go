package protection

import (
	"context"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"meridian.dev/platform/fault"
)

// deadRedis is a client of a port nothing listens on.
func deadRedis(t *testing.T) *redis.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func (c core) livePosition(t *testing.T, id uuid.UUID) (Position, bool) {
	t.Helper()
	vals, err := c.rdb.HMGet(context.Background(), c.store.positionKey(id), "at", "lat", "lon").Result()
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	return parseLive(vals)
}

// samePos compares positions by instant, whatever the time's location.
func samePos(a, b Position) bool { return a.Point == b.Point && a.At.Equal(b.At) }

func TestReportPosition(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	d := c.start(t, c.detail(t, c.protectee(t, "Ada"), "EMEA", "leader", "agent"))

	pos, err := c.store.ReportPosition(ctx, idAgent, d.ID, Point{Latitude: 51.5, Longitude: -0.12}, nil)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	if !pos.At.Equal(coreClock) {
		t.Fatalf("a position without a time is now: %v", pos.At)
	}
	stored, err := c.store.Detail(ctx, d.ID)
	if err != nil || stored.LastPosition == nil || !samePos(*stored.LastPosition, pos) {
		t.Fatalf("detail position %+v %v", stored.LastPosition, err)
	}
	if live, ok := c.livePosition(t, d.ID); !ok || !samePos(live, pos) {
		t.Fatalf("live position %+v %v", live, ok)
	}
	// An older report joins the track but moves neither the detail nor the live position back.
	older := coreClock.Add(-time.Minute)
	if _, err := c.store.ReportPosition(ctx, idLeader, d.ID, Point{Latitude: 10, Longitude: 10}, &older); err != nil {
		t.Fatal(err)
	}
	stored, _ = c.store.Detail(ctx, d.ID)
	if !samePos(*stored.LastPosition, pos) {
		t.Fatalf("an older report moved the detail to %+v", stored.LastPosition)
	}
	if live, _ := c.livePosition(t, d.ID); !samePos(live, pos) {
		t.Fatalf("an older report moved the live position to %+v", live)
	}
	// A little ahead (a fast clock) is accepted.
	ahead := coreClock.Add(4 * time.Minute)
	newer, err := c.store.ReportPosition(ctx, idAgent, d.ID, Point{Latitude: 51.6, Longitude: -0.1}, &ahead)
	if err != nil {
		t.Fatal(err)
	}
	if live, _ := c.livePosition(t, d.ID); !samePos(live, newer) {
		t.Fatalf("live %+v, want %+v", live, newer)
	}
	if n := c.count(t, `SELECT count(*) FROM detail_positions WHERE detail_id = $1`, d.ID); n != 3 {
		t.Fatalf("track of %d positions, want 3", n)
	}
	if n := len(coreOutbox[DetailChanged](t, c, TopicDetailChanged)); n != 4 { // STATUS + 3 POSITION
		t.Fatalf("%d detail events, want 4", n)
	}
	if n := c.count(t, `SELECT count(*) FROM audit_log WHERE action = 'detail.report_position'`); n != 3 {
		t.Fatalf("%d audit rows for positions, want 3", n)
	}
	if text := c.auditText(t); strings.Contains(text, "51.5") || strings.Contains(text, "51.6") || strings.Contains(text, "-0.1") {
		t.Fatalf("the audit log carries coordinates:\n%s", text)
	}
}

func TestReportPositionRefusals(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	p := c.protectee(t, "Ada")
	planned := c.detail(t, p, "EMEA", "leader", "agent")
	d := c.start(t, c.detail(t, p, "EMEA", "leader", "agent"))
	here := Point{Latitude: 1, Longitude: 2}
	before := c.snapshot(t)
	cases := []struct {
		name  string
		p     Point
		at    *time.Time
		field string
	}{
		{"latitude", Point{Latitude: 90.01, Longitude: 0}, nil, "latitude"},
		{"NaN latitude", Point{Latitude: math.NaN(), Longitude: 0}, nil, "latitude"},
		{"longitude", Point{Latitude: 0, Longitude: 180.5}, nil, "longitude"},
		{"NaN longitude", Point{Latitude: 0, Longitude: math.NaN()}, nil, "longitude"},
		{"far future", here, corePtr(coreClock.Add(6 * time.Minute)), "at"},
		{"zero time", here, &time.Time{}, "at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.store.ReportPosition(ctx, idAgent, d.ID, tc.p, tc.at)
			wantCoreFault(t, err, fault.BadUserInput, tc.field)
		})
	}
	// Only the people on an active detail report: not leads, not others.
	for _, who := range []string{"lead", "admin", "other", "manager"} {
		_, err := c.store.ReportPosition(ctx, personas[who], d.ID, here, nil)
		if err != ErrNotOnDetail {
			t.Errorf("%s: %v, want ErrNotOnDetail", who, err)
		}
	}
	_, err := c.store.ReportPosition(ctx, idAgent, planned.ID, here, nil)
	if err != ErrNotActive {
		t.Errorf("a planned detail: %v, want ErrNotActive", err)
	}
	_, err = c.store.ReportPosition(ctx, idAgent, coreID(t), here, nil)
	wantCoreFault(t, err, fault.NotFound, "")
	c.assertUnchanged(t, before, "refused positions")
	if _, ok := c.livePosition(t, d.ID); ok {
		t.Fatal("a refused position reached Redis")
	}
}

func TestLastPositionsPrefersNewerLiveAndFallsBack(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	p := c.protectee(t, "Ada")
	a := c.start(t, c.detail(t, p, "EMEA", "leader", "agent"))
	b := c.start(t, c.detail(t, p, "EMEA", "leader", "agent"))
	silent := c.start(t, c.detail(t, p, "EMEA", "leader", "agent"))
	pa, err := c.store.ReportPosition(ctx, idAgent, a.ID, Point{Latitude: 1, Longitude: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := c.store.ReportPosition(ctx, idAgent, b.ID, Point{Latitude: 2, Longitude: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Redis ahead of Postgres for a (a write Postgres has not shown yet),
	// behind for b (an old key): the newer wins either way.
	aheadA := Position{Point: Point{Latitude: 1.5, Longitude: 1.5}, At: coreClock.Add(time.Second)}
	if _, err := c.rdb.HSet(ctx, c.store.positionKey(a.ID), "at", aheadA.At.UnixMicro(), "lat", "1.5", "lon", "1.5").Result(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.rdb.HSet(ctx, c.store.positionKey(b.ID), "at", coreClock.Add(-time.Hour).UnixMicro(), "lat", "9", "lon", "9").Result(); err != nil {
		t.Fatal(err)
	}
	got, err := c.store.LastPositions(ctx, []uuid.UUID{a.ID, b.ID, silent.ID, coreID(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !samePos(got[a.ID], aheadA) || !samePos(got[b.ID], pb) {
		t.Fatalf("positions %+v", got)
	}

	// The only-newer script: an older write is ignored, an equal one too.
	c.store.writeLivePosition(ctx, a.ID, pa)
	if live, _ := c.livePosition(t, a.ID); !samePos(live, aheadA) {
		t.Fatalf("an older live write replaced a newer one: %+v", live)
	}

	// Redis down: Postgres's positions, and reports still succeed.
	down := NewStore(c.pool, deadRedis(t), c.store.prefix)
	down.now = c.store.now
	got, err = down.LastPositions(ctx, []uuid.UUID{a.ID, b.ID})
	if err != nil {
		t.Fatalf("Redis down: %v", err)
	}
	if len(got) != 2 || !samePos(got[a.ID], pa) || !samePos(got[b.ID], pb) {
		t.Fatalf("Redis down: positions %+v", got)
	}
	later := coreClock.Add(2 * time.Second)
	if _, err := down.ReportPosition(ctx, idAgent, b.ID, Point{Latitude: 3, Longitude: 3}, &later); err != nil {
		t.Fatalf("a report with Redis down: %v", err)
	}
	if got, _ := down.LastPositions(ctx, []uuid.UUID{b.ID}); got[b.ID].Latitude != 3 {
		t.Fatalf("Redis down: the report is not served from Postgres: %+v", got)
	}
	// Without Redis at all, likewise.
	none := NewStore(c.pool, nil, "")
	if got, err := none.LastPositions(ctx, []uuid.UUID{a.ID}); err != nil || !samePos(got[a.ID], pa) {
		t.Fatalf("no Redis: %+v %v", got, err)
	}
}

func TestNearestSafeHavens(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	d := c.start(t, c.detail(t, c.protectee(t, "Ada"), "EMEA", "leader", "agent"))
	// Westminster, then havens about 1 km, 5 km, 340 km (Paris) and 0.3 km away.
	havens := []struct {
		name string
		p    Place
	}{
		{"one", Place{City: "London", CountryCode: "GB", Latitude: 51.5007 + 0.009, Longitude: -0.1246}},
		{"five", Place{City: "London", CountryCode: "GB", Latitude: 51.5007 + 0.045, Longitude: -0.1246}},
		{"paris", paris},
		{"near", Place{City: "London", CountryCode: "GB", Latitude: 51.5007, Longitude: -0.1246 + 0.0043}},
	}
	_, err := c.store.NearestSafeHavens(ctx, d.ID, 5)
	wantCoreFault(t, err, fault.Conflict, "")
	for _, h := range havens {
		if _, err := c.store.AddSafeHaven(ctx, idLeader, NewSafeHaven{DetailID: d.ID, Kind: "OTHER", Name: h.name, Place: h.p}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.store.ReportPosition(ctx, idAgent, d.ID, Point{Latitude: 51.5007, Longitude: -0.1246}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := c.store.NearestSafeHavens(ctx, d.ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range got {
		names = append(names, n.SafeHaven.Name)
	}
	if strings.Join(names, ",") != "near,one,five" {
		t.Fatalf("order %v", names)
	}
	for i, want := range []float64{0.3, 1.0, 5.0} {
		if math.Abs(got[i].DistanceKm-want) > 0.05*want+0.02 {
			t.Errorf("%s at %.3f km, want about %.1f", names[i], got[i].DistanceKm, want)
		}
	}
	for _, first := range []int{0, 51, -1} {
		_, err := c.store.NearestSafeHavens(ctx, d.ID, first)
		wantCoreFault(t, err, fault.BadUserInput, "first")
	}
	_, err = c.store.NearestSafeHavens(ctx, coreID(t), 5)
	wantCoreFault(t, err, fault.NotFound, "")
}

func TestNear(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	p := c.protectee(t, "Ada")
	origin := Point{Latitude: 48.8566, Longitude: 2.3522} // FIRE reaches 5 km for details; the default 10 km
	north := func(km float64) Place {
		return Place{City: "Paris", CountryCode: "FR", Latitude: origin.Latitude + km/111.2, Longitude: origin.Longitude}
	}
	far := Place{City: "Lyon", CountryCode: "FR", Latitude: 45.764, Longitude: 4.8357}
	report := func(d Detail, place Place) {
		t.Helper()
		if _, err := c.store.ReportPosition(ctx, idAgent, d.ID, Point{Latitude: place.Latitude, Longitude: place.Longitude}, nil); err != nil {
			t.Fatal(err)
		}
	}
	leg := func(d Detail, from, to Place, arrives time.Time) Movement {
		t.Helper()
		m, err := c.store.AddMovement(ctx, idLead, NewMovement{DetailID: d.ID, From: from, To: to, PlannedDeparture: arrives.Add(-time.Hour),
			PlannedArrival: arrives, DepartureZone: "Europe/Paris", ArrivalZone: "Europe/Paris"})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	at := coreClock
	byPosition := c.start(t, c.detail(t, p, "EMEA", "leader", "agent"))
	report(byPosition, north(3))
	both := c.start(t, c.detail(t, p, "EMEA", "leader", "agent"))
	report(both, north(4))
	leg(both, north(1), far, at.Add(time.Hour))             // nearer by movement, but the position speaks for it
	byMovement := c.detail(t, p, "EMEA", "leader", "agent") // planned: its legs count, it has no position
	leg(byMovement, far, north(2), at.Add(3*time.Hour))
	outside := c.start(t, c.detail(t, p, "EMEA", "leader", "agent"))
	report(outside, north(7)) // within the default 10 km, not FIRE's 5
	ended := c.start(t, c.detail(t, p, "EMEA", "leader", "agent"))
	report(ended, north(0.5))
	leg(ended, north(0.5), far, at.Add(time.Hour))
	if _, err := c.store.End(ctx, idLead, ended.ID, ""); err != nil {
		t.Fatal(err)
	}
	arrived := c.detail(t, p, "EMEA", "leader", "agent")
	m := leg(arrived, far, north(0.2), at.Add(time.Hour))
	if _, err := c.store.UpdateMovement(ctx, idLead, MovementChange{MovementID: m.ID, Status: corePtr("ARRIVED")}); err != nil {
		t.Fatal(err)
	}
	past := c.detail(t, p, "EMEA", "leader", "agent")
	leg(past, north(0.1), far, at.Add(-time.Minute)) // arrived before the incident

	got, err := c.store.Near(ctx, "fire", origin, at)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		id  uuid.UUID
		via string
		km  float64
	}
	want := []entry{{byMovement.ID, ViaMovement, 2}, {byPosition.ID, ViaPosition, 3}, {both.ID, ViaPosition, 4}}
	if len(got) != len(want) {
		t.Fatalf("near: %d details, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Detail.ID != w.id || got[i].Via != w.via || math.Abs(got[i].DistanceKm-w.km) > 0.05 {
			t.Errorf("near[%d] = %s %s %.3f km, want %s %s %.1f", i, got[i].Detail.ID, got[i].Via, got[i].DistanceKm, w.id, w.via, w.km)
		}
	}
	if len(got[0].Detail.Agents) != 1 {
		t.Errorf("near details come without their agents: %+v", got[0].Detail)
	}
	// A kind without its own radius takes the default 10 km.
	wide, err := c.store.Near(ctx, "PARADE", origin, at)
	if err != nil || len(wide) != 4 || wide[3].Detail.ID != outside.ID {
		t.Fatalf("default radius: %+v %v", wide, err)
	}
	_, err = c.store.Near(ctx, "fire", Point{Latitude: 95}, at)
	wantCoreFault(t, err, fault.BadUserInput, "latitude")
	_, err = c.store.Near(ctx, "no such kind!", origin, at)
	wantCoreFault(t, err, fault.BadUserInput, "kind")
}
