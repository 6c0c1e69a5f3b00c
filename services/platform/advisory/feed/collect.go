package feed

import (
	"context"
	"fmt"
)

// DefaultURLs are the sources' real public endpoints: what Collect reads
// when it is given no URL. The UK's is the GOV.UK host, under which the
// content API's index and country documents live.
func DefaultURLs() map[Source]string {
	return map[Source]string{
		USState:         "https://travel.state.gov/_res/rss/TAsTWs.xml",
		UKFCDO:          "https://www.gov.uk",
		CAGAC:           "https://data.international.gc.ca/travel-voyage/index-updated.json",
		AUSmartraveller: "https://www.smartraveller.gov.au/destinations-export",
	}
}

// Collect reads one source completely through g, from url (its default
// when url is empty). The Snapshot always names its Source, even with an
// error.
func Collect(ctx context.Context, src Source, g Getter, url string) (Snapshot, error) {
	if url == "" {
		url = DefaultURLs()[src]
	}
	var collect func(context.Context, Getter, string) (Snapshot, error)
	switch src {
	case USState:
		collect = CollectUSState
	case UKFCDO:
		collect = CollectUKFCDO
	case CAGAC:
		collect = CollectCAGAC
	case AUSmartraveller:
		collect = CollectAUSmartraveller
	default:
		return Snapshot{Source: src}, fmt.Errorf("feed: unknown source %q", src)
	}
	snap, err := collect(ctx, g, url)
	snap.Source = src
	return snap, err
}
