package advisory_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"meridian.dev/platform/advisory"
	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/testenv"
)

func TestDocumentCacheKeepsTheLastGoodCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cache := advisory.NewDocumentCache(testenv.NewPool(t))
	const url = "https://www.smartraveller.gov.au/destinations-export"

	if _, ok, err := cache.Lookup(ctx, url); err != nil || ok {
		t.Fatalf("Lookup on an empty cache = %v, %v; want a miss", ok, err)
	}
	first := feed.CachedDocument{URL: url, ETag: `W/"1712738340"`, LastModified: "Fri, 10 Apr 2026 08:39:00 GMT",
		Body: []byte(`[{"title":"Côte d&#039;Ivoire (Ivory Coast)"}]`), FetchedAt: time.Date(2026, 4, 10, 9, 0, 0, 0, time.UTC)}
	if err := cache.Save(ctx, first); err != nil {
		t.Fatal(err)
	}
	got, ok, err := cache.Lookup(ctx, url)
	if err != nil || !ok || got.URL != url || got.ETag != first.ETag || got.LastModified != first.LastModified ||
		!bytes.Equal(got.Body, first.Body) || !got.FetchedAt.Equal(first.FetchedAt) {
		t.Fatalf("Lookup = %+v, %v, %v; want %+v", got, ok, err, first)
	}

	// A newer copy replaces it; a validator Postgres cannot store is
	// dropped rather than failing the save.
	second := feed.CachedDocument{URL: url, ETag: "bad\x00etag", Body: []byte{0, 1, 2}, FetchedAt: first.FetchedAt.Add(time.Hour)}
	if err := cache.Save(ctx, second); err != nil {
		t.Fatal(err)
	}
	got, _, err = cache.Lookup(ctx, url)
	if err != nil || got.ETag != "" || got.LastModified != "" || !bytes.Equal(got.Body, second.Body) || !got.FetchedAt.Equal(second.FetchedAt) {
		t.Fatalf("after the second save = %+v, %v", got, err)
	}
}
