package advisory_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"meridian.dev/platform/advisory"
	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/testenv"
)

// keys renders advisories as "CC/SOURCE" for comparisons.
func keys(list []advisory.Advisory) []string {
	var out []string
	for _, a := range list {
		out = append(out, a.Country+"/"+string(a.Source))
	}
	return out
}

func TestListPagesAndFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	apply(t, st, snapshot(feed.USState, report(feed.USState, "FR", 2), report(feed.USState, "HT", 4), report(feed.USState, "KE", 3)), fetched)
	apply(t, st, snapshot(feed.UKFCDO, report(feed.UKFCDO, "HT", 4), report(feed.UKFCDO, "KE", 2)), fetched)
	apply(t, st, snapshot(feed.AUSmartraveller, report(feed.AUSmartraveller, "FR", 1)), fetched)

	// Every page of two, following cursors, gives everything once, in order.
	var all []string
	after := ""
	pages := 0
	for {
		page, hasNext, err := st.List(ctx, advisory.Filter{}, 2, after)
		if err != nil {
			t.Fatalf("List after %q: %v", after, err)
		}
		pages++
		all = append(all, keys(page)...)
		if !hasNext {
			break
		}
		if len(page) != 2 || pages > 10 {
			t.Fatalf("page %d has %d items with more to come", pages, len(page))
		}
		after = advisory.Cursor(page[len(page)-1])
	}
	want := []string{"FR/AU_SMARTRAVELLER", "FR/US_STATE", "HT/UK_FCDO", "HT/US_STATE", "KE/UK_FCDO", "KE/US_STATE"}
	if !slices.Equal(all, want) || pages != 3 {
		t.Fatalf("paged %v in %d pages, want %v in 3", all, pages, want)
	}

	tests := []struct {
		filter advisory.Filter
		want   []string
	}{
		{advisory.Filter{Country: "ht"}, []string{"HT/UK_FCDO", "HT/US_STATE"}},
		{advisory.Filter{Source: feed.UKFCDO}, []string{"HT/UK_FCDO", "KE/UK_FCDO"}},
		{advisory.Filter{MinLevel: 3}, []string{"HT/UK_FCDO", "HT/US_STATE", "KE/US_STATE"}},
		{advisory.Filter{Country: "KE", Source: feed.USState, MinLevel: 3}, []string{"KE/US_STATE"}},
		{advisory.Filter{Country: "JP"}, nil},
	}
	for _, tt := range tests {
		got, hasNext, err := st.List(ctx, tt.filter, 10, "")
		if err != nil || hasNext || !slices.Equal(keys(got), tt.want) {
			t.Errorf("List(%+v) = %v, %v, %v; want %v", tt.filter, keys(got), hasNext, err, tt.want)
		}
	}
	if got, hasNext, err := st.List(ctx, advisory.Filter{}, 0, ""); err != nil || len(got) != 0 || !hasNext {
		t.Errorf("first 0 = %v, %v, %v; want nothing, with more to come", keys(got), hasNext, err)
	}

	bad := []struct {
		filter advisory.Filter
		first  int
		after  string
		field  string
	}{
		{advisory.Filter{Country: "XX"}, 10, "", "country"},
		{advisory.Filter{Source: "US"}, 10, "", "source"},
		{advisory.Filter{MinLevel: 5}, 10, "", "minLevel"},
		{advisory.Filter{MinLevel: -1}, 10, "", "minLevel"},
		{advisory.Filter{}, -1, "", "first"},
		{advisory.Filter{}, advisory.MaxPageSize + 1, "", "first"},
		{advisory.Filter{}, 10, "not a cursor", "after"},
		{advisory.Filter{}, 10, "RlIvVVNfU1RBVEU", "after"}, // "FR/US_STATE" without this list's prefix
	}
	for _, b := range bad {
		_, _, err := st.List(ctx, b.filter, b.first, b.after)
		t.Run(fmt.Sprintf("%+v first %d after %q", b.filter, b.first, b.after), func(t *testing.T) { wantInvalid(t, err, b.field) })
	}
}

func TestCountryRiskOfAnUncoveredOrUnknownCountry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := advisory.NewStore(testenv.NewPool(t))
	risk, err := st.CountryRisk(ctx, "IS")
	if err != nil {
		t.Fatal(err)
	}
	if risk.Country.Code != "IS" || risk.Country.Name == "" || risk.Level != 1 || risk.Rule != advisory.RuleSourceMax ||
		len(risk.Advisories) != 0 || risk.Advisories == nil || risk.Override != nil || len(risk.AreaOverrides) != 0 {
		t.Errorf("uncovered Iceland = %+v, want level 1 SOURCE_MAX and empty lists", risk)
	}
	for _, code := range []string{"XX", "", "UK", "ISL", "I\x00"} {
		_, err := st.CountryRisk(ctx, code)
		wantInvalid(t, err, "country")
	}
	status, err := st.Sources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var order []feed.Source
	for _, s := range status {
		order = append(order, s.Source)
		if s.LastAttemptAt != nil || s.LastSuccessAt != nil || s.Countries != 0 || s.LastError != "" {
			t.Errorf("fresh %s status = %+v, want nothing yet", s.Source, s)
		}
	}
	if !slices.Equal(order, feed.Sources) {
		t.Errorf("Sources in order %v, want %v", order, feed.Sources)
	}
}
