package advisory

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/fault"
)

// documentCache keeps the fetcher's last good documents in feed_documents,
// so conditional requests survive restarts and are shared by every worker.
type documentCache struct{ pool *pgxpool.Pool }

// NewDocumentCache returns a feed.DocumentCache over feed_documents.
func NewDocumentCache(pool *pgxpool.Pool) feed.DocumentCache { return documentCache{pool: pool} }

func (c documentCache) Lookup(ctx context.Context, url string) (feed.CachedDocument, bool, error) {
	var d feed.CachedDocument
	err := c.pool.QueryRow(ctx, `SELECT url, etag, last_modified, body, fetched_at FROM feed_documents WHERE url = $1`, url).
		Scan(&d.URL, &d.ETag, &d.LastModified, &d.Body, &d.FetchedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return feed.CachedDocument{}, false, nil
	}
	if err != nil {
		return feed.CachedDocument{}, false, fmt.Errorf("advisory: cached document: %w", err)
	}
	return d, true, nil
}

func (c documentCache) Save(ctx context.Context, d feed.CachedDocument) error {
	if d.Body == nil {
		d.Body = []byte{} // body is NOT NULL; an empty document is still a document
	}
	etag, lastModified := storableValidator(d.ETag), storableValidator(d.LastModified)
	_, err := c.pool.Exec(ctx, `INSERT INTO feed_documents (url, etag, last_modified, body, fetched_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (url) DO UPDATE SET etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified,
			body = EXCLUDED.body, fetched_at = EXCLUDED.fetched_at`, d.URL, etag, lastModified, d.Body, d.FetchedAt)
	if err != nil {
		return fmt.Errorf("advisory: save cached document: %w", err)
	}
	return nil
}

// storableValidator drops a validator Postgres cannot store or that is
// absurdly long: a broken server must not turn a good fetch into a failed
// write, and without the validator the next fetch is simply unconditional.
func storableValidator(v string) string {
	if len(v) > 1000 || fault.CheckText("validator", v) != nil {
		return ""
	}
	return v
}
