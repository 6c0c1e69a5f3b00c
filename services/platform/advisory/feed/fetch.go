package feed

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CachedDocument is the last good copy of a document, with the validators
// the server sent for it so the next fetch can be conditional.
type CachedDocument struct {
	URL          string
	ETag         string
	LastModified string
	Body         []byte
	FetchedAt    time.Time
}

// DocumentCache keeps the last good copy of each fetched document.
type DocumentCache interface {
	Lookup(ctx context.Context, url string) (CachedDocument, bool, error)
	Save(ctx context.Context, d CachedDocument) error
}

// HTTPGetter fetches feed documents over HTTP. The zero value is usable;
// every field has a default.
type HTTPGetter struct {
	Client    *http.Client  // default: a client with a 20 s timeout per attempt
	MaxBytes  int64         // default 16 MiB; larger → error, nothing saved
	Attempts  int           // default 3
	Backoff   time.Duration // default 1 s, doubling
	Cache     DocumentCache // may be nil: no conditional requests
	UserAgent string        // default "Meridian travel-risk (+https://meridian.dev)"
}

const (
	defaultMaxBytes  = 16 << 20
	defaultAttempts  = 3
	defaultBackoff   = time.Second
	defaultUserAgent = "Meridian travel-risk (+https://meridian.dev)"
	// maxRetryAfter caps how long a server's Retry-After may hold a run.
	maxRetryAfter = time.Minute
)

var defaultHTTPClient = &http.Client{Timeout: 20 * time.Second}

// Get fetches url, conditionally when the cache holds a copy, retrying
// transient failures. A 304 answers with the cached body.
func (h *HTTPGetter) Get(ctx context.Context, rawURL string) (Document, error) {
	// Errors name the URL without its query string: feed URLs may one day
	// carry keys, and errors end up in logs and run summaries.
	shown := redactURL(rawURL)

	var cached CachedDocument
	var haveCached bool
	if h.Cache != nil {
		var err error
		cached, haveCached, err = h.Cache.Lookup(ctx, rawURL)
		if err != nil {
			return Document{}, fmt.Errorf("feed: cache lookup for %s: %w", shown, err)
		}
	}

	attempts := h.Attempts
	if attempts <= 0 {
		attempts = defaultAttempts
	}
	wait := h.Backoff
	if wait <= 0 {
		wait = defaultBackoff
	}

	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			delay := wait
			var hinted retryAfterError
			if errors.As(lastErr, &hinted) && hinted.after > delay {
				delay = min(hinted.after, maxRetryAfter)
			}
			if err := sleepCtx(ctx, delay); err != nil {
				return Document{}, fmt.Errorf("feed: GET %s: %w (after: %v)", shown, err, lastErr)
			}
			wait *= 2
		}
		doc, retry, err := h.attempt(ctx, rawURL, shown, cached, haveCached)
		if err == nil {
			return doc, nil
		}
		if ctx.Err() != nil {
			return Document{}, fmt.Errorf("feed: GET %s: %w", shown, ctx.Err())
		}
		if !retry {
			return Document{}, err
		}
		lastErr = err
	}
	return Document{}, fmt.Errorf("feed: GET %s: giving up after %d attempts: %w", shown, attempts, lastErr)
}

// attempt makes one request. retry says whether the failure is transient.
func (h *HTTPGetter) attempt(ctx context.Context, rawURL, shown string, cached CachedDocument, haveCached bool) (doc Document, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return Document{}, false, fmt.Errorf("feed: GET %s: %w", shown, unwrapURLError(err))
	}
	agent := h.UserAgent
	if agent == "" {
		agent = defaultUserAgent
	}
	req.Header.Set("User-Agent", agent)
	req.Header.Set("Accept", "application/json, application/rss+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1")
	if haveCached {
		if cached.ETag != "" {
			req.Header.Set("If-None-Match", cached.ETag)
		}
		if cached.LastModified != "" {
			req.Header.Set("If-Modified-Since", cached.LastModified)
		}
	}

	client := h.Client
	if client == nil {
		client = defaultHTTPClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// Network errors and timeouts are worth another try.
		return Document{}, true, fmt.Errorf("feed: GET %s: %w", shown, unwrapURLError(err))
	}
	defer resp.Body.Close()

	switch {
	case resp.StatusCode == http.StatusNotModified:
		drainBody(resp.Body)
		if !haveCached {
			return Document{}, false, fmt.Errorf("feed: GET %s: 304 Not Modified without a cached copy", shown)
		}
		now := time.Now()
		cached.FetchedAt = now
		if err := h.Cache.Save(ctx, cached); err != nil {
			return Document{}, false, fmt.Errorf("feed: cache save for %s: %w", shown, err)
		}
		return Document{URL: rawURL, Body: cached.Body, FetchedAt: now}, false, nil
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
		drainBody(resp.Body)
		err := fmt.Errorf("feed: GET %s: status %d", shown, resp.StatusCode)
		if after, ok := parseRetryAfter(resp.Header.Get("Retry-After")); ok {
			err = retryAfterError{err: err, after: after}
		}
		return Document{}, true, err
	case resp.StatusCode != http.StatusOK:
		drainBody(resp.Body)
		return Document{}, false, fmt.Errorf("feed: GET %s: status %d", shown, resp.StatusCode)
	}

	limit := h.MaxBytes
	if limit <= 0 {
		limit = defaultMaxBytes
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		// The connection broke mid-body: the next attempt may get it whole.
		return Document{}, true, fmt.Errorf("feed: GET %s: reading body: %w", shown, err)
	}
	if int64(len(body)) > limit {
		return Document{}, false, fmt.Errorf("feed: GET %s: body larger than %d bytes", shown, limit)
	}
	if isHTMLPage(resp.Header.Get("Content-Type"), body) {
		return Document{}, false, fmt.Errorf("%w: GET %s: an HTML page, not a feed", ErrMalformed, shown)
	}

	now := time.Now()
	if h.Cache != nil && wellFormed(body) {
		fresh := CachedDocument{
			URL:          rawURL,
			ETag:         resp.Header.Get("ETag"),
			LastModified: resp.Header.Get("Last-Modified"),
			Body:         body,
			FetchedAt:    now,
		}
		if err := h.Cache.Save(ctx, fresh); err != nil {
			return Document{}, false, fmt.Errorf("feed: cache save for %s: %w", shown, err)
		}
	}
	// A body that is neither well-formed JSON nor XML is still handed to the
	// parser, which names what is wrong with it; it just never becomes the
	// cached copy that later conditional requests would be answered with.
	return Document{URL: rawURL, Body: body, FetchedAt: now}, false, nil
}

// retryAfterError carries a server's Retry-After hint to the retry loop.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e retryAfterError) Error() string { return e.err.Error() }
func (e retryAfterError) Unwrap() error { return e.err }

func parseRetryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if seconds, err := strconv.Atoi(v); err == nil && seconds >= 0 {
		return time.Duration(seconds) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(time.Until(at), 0), true
	}
	return 0, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// drain reads a little of an unwanted body so the connection can be reused.
func drainBody(r io.Reader) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10))
}

// unwrapURLError drops net/http's *url.Error wrapper, whose message repeats
// the full URL, query string included.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactURL is rawURL without query string, fragment or credentials.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		if i := strings.IndexAny(rawURL, "?#"); i >= 0 {
			return rawURL[:i]
		}
		return rawURL
	}
	u.RawQuery = ""
	u.ForceQuery = false
	u.Fragment = ""
	u.RawFragment = ""
	u.User = nil
	return u.String()
}

var utf8ByteOrderMark = []byte{0xEF, 0xBB, 0xBF}

// isHTMLPage recognises the error and maintenance pages CDNs and portals
// serve with status 200 in place of a feed.
func isHTMLPage(contentType string, body []byte) bool {
	if mediaType, _, err := mime.ParseMediaType(contentType); err == nil && mediaType == "text/html" {
		return true
	}
	start := bytes.TrimLeft(bytes.TrimPrefix(bytes.TrimLeft(body, " \t\r\n"), utf8ByteOrderMark), " \t\r\n")
	if len(start) > 15 {
		start = start[:15]
	}
	lower := bytes.ToLower(start)
	return bytes.HasPrefix(lower, []byte("<!doctype html")) || bytes.HasPrefix(lower, []byte("<html"))
}

// wellFormed says whether body is complete JSON or XML: only such bodies
// may become the cached copy, so a truncated download never outlives the
// run that got it.
func wellFormed(body []byte) bool {
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(body, utf8ByteOrderMark))
	if json.Valid(trimmed) {
		return true
	}
	if len(trimmed) == 0 || trimmed[0] != '<' {
		return false
	}
	return wellFormedXML(trimmed)
}

func wellFormedXML(body []byte) bool {
	dec := xml.NewDecoder(bytes.NewReader(body))
	// Feeds use HTML entities and declare other charsets; neither matters to
	// whether the document is complete.
	dec.Entity = xml.HTMLEntity
	dec.CharsetReader = func(_ string, input io.Reader) (io.Reader, error) { return input, nil }
	depth, elements := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return elements > 0 && depth == 0
		}
		if err != nil {
			return false
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
			elements++
		case xml.EndElement:
			depth--
		}
	}
}
