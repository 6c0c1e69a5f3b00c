// Package live keeps Meridian's live state in Redis: the current status of
// every site (read by the board), and one Redis Stream of events that every
// gateway replica reads to feed its GraphQL subscriptions.
package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
)

// Event types on the stream.
const (
	TypeSiteStatus = "site.status"
	TypeEscalation = "escalation"
)

// streamMaxLen bounds the stream: about a day of heavy traffic, enough for a
// client to resume after a reconnect. Older cursors get a clear error.
const streamMaxLen = 100_000

// Connect opens an instrumented Redis client and checks it answers.
func Connect(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: parse REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(opts)
	// Caller lookup walks the stack on every command: too dear for the hot path.
	if err := redisotel.InstrumentTracing(rdb, redisotel.WithCallerEnabled(false)); err != nil {
		return nil, fmt.Errorf("redis: tracing: %w", err)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		// Not fatal for callers that can degrade (the board falls back to
		// Postgres); they decide.
		return rdb, fmt.Errorf("redis: ping %s: %w", opts.Addr, err)
	}
	return rdb, nil
}

// Keys names every Redis key under one prefix, so tests and tenants never
// collide.
type Keys struct{ Prefix string }

// SiteStatus is the key holding a site's live status JSON.
func (k Keys) SiteStatus(siteID string) string { return k.Prefix + "site:" + siteID + ":status" }

// Stream is the key of the event stream.
func (k Keys) Stream() string { return k.Prefix + "events" }

// Event is one entry of the stream. ID is the stream ID, the client's cursor.
type Event struct {
	ID     string
	Type   string
	Region string
	Data   json.RawMessage
}

// Publisher writes live state and appends events.
type Publisher struct {
	rdb  *redis.Client
	keys Keys
}

// NewPublisher returns a publisher.
func NewPublisher(rdb *redis.Client, keys Keys) *Publisher {
	return &Publisher{rdb: rdb, keys: keys}
}

// publishIfNewer stores the status and appends its event only when the
// version is newer than the one held, atomically: a delayed or replayed outbox
// row can neither move the board back nor put a stale or duplicate event on
// the stream. (Both keys share the prefix; with Redis Cluster, give the prefix
// a hash tag such as "{meridian}:".)
var publishIfNewer = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'version')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return false end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'json', ARGV[2])
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'type', ARGV[3], 'region', ARGV[4], 'data', ARGV[6])
`)

// PublishSiteStatus stores the site's live status and appends the event, in
// one round trip; it does neither when Redis already holds this version or a
// newer one.
func (p *Publisher) PublishSiteStatus(ctx context.Context, siteID, region string, version int32, statusJSON, eventJSON []byte) error {
	keys := []string{p.keys.SiteStatus(siteID), p.keys.Stream()}
	err := publishIfNewer.Run(ctx, p.rdb, keys, version, statusJSON, TypeSiteStatus, region, streamMaxLen, eventJSON).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("live: publish site %s: %w", siteID, err)
	}
	return nil
}

// Publish appends an event to the stream.
func (p *Publisher) Publish(ctx context.Context, typ, region string, data []byte) error {
	pipe := p.rdb.Pipeline()
	p.append(ctx, pipe, typ, region, data)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("live: publish %s: %w", typ, err)
	}
	return nil
}

func (p *Publisher) append(ctx context.Context, pipe redis.Pipeliner, typ, region string, data []byte) {
	pipe.XAdd(ctx, &redis.XAddArgs{
		Stream: p.keys.Stream(),
		MaxLen: streamMaxLen,
		Approx: true,
		Values: []string{"type", typ, "region", region, "data", string(data)},
	})
}

// Statuses returns the live status JSON of each site found, keyed by ID, with
// its version. A site missing from Redis is absent from the map.
func (p *Publisher) Statuses(ctx context.Context, siteIDs []string) (map[string]Versioned, error) {
	pipe := p.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(siteIDs))
	for i, id := range siteIDs {
		cmds[i] = pipe.HMGet(ctx, p.keys.SiteStatus(id), "version", "json")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("live: statuses: %w", err)
	}
	out := make(map[string]Versioned, len(siteIDs))
	for i, cmd := range cmds {
		vals, err := cmd.Result()
		if err != nil || len(vals) != 2 || vals[0] == nil || vals[1] == nil {
			continue
		}
		v, err := strconv.Atoi(fmt.Sprint(vals[0]))
		if err != nil {
			continue
		}
		out[siteIDs[i]] = Versioned{Version: int32(v), JSON: []byte(fmt.Sprint(vals[1]))}
	}
	return out, nil
}

// Versioned is a live value with its version.
type Versioned struct {
	Version int32
	JSON    []byte
}

func decode(msg redis.XMessage) Event {
	e := Event{ID: msg.ID}
	e.Type, _ = msg.Values["type"].(string)
	e.Region, _ = msg.Values["region"].(string)
	if d, ok := msg.Values["data"].(string); ok {
		e.Data = json.RawMessage(d)
	}
	return e
}
