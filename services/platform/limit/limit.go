// Package limit rate-limits mutations per caller with a fixed window counted
// in Redis, shared by every gateway replica.
package limit

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"meridian.dev/platform/fault"
)

// ErrRateLimited is what a caller over the limit sees.
var ErrRateLimited = fault.New(fault.RateLimited, "too many changes in a short time; slow down and retry shortly")

// Limiter allows Max operations per Window for each key.
type Limiter struct {
	rdb    *redis.Client
	prefix string
	Max    int
	Window time.Duration
	log    *slog.Logger
}

// New returns a limiter; max <= 0 disables it.
func New(rdb *redis.Client, prefix string, max int, window time.Duration, log *slog.Logger) *Limiter {
	return &Limiter{rdb: rdb, prefix: prefix, Max: max, Window: window, log: log}
}

// Allow counts one operation for key and returns ErrRateLimited past the
// limit. When Redis is unreachable it allows the operation: a Redis outage
// must not stop a regional manager from reporting a lockdown.
func (l *Limiter) Allow(ctx context.Context, key string) error {
	if l == nil || l.Max <= 0 {
		return nil
	}
	// A short deadline: when Redis is unreachable the caller must not wait
	// out the client's retries before its mutation proceeds.
	ctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	window := time.Now().UnixNano() / int64(l.Window)
	k := l.prefix + "ratelimit:" + key + ":" + strconv.FormatInt(window, 10)
	pipe := l.rdb.Pipeline()
	incr := pipe.Incr(ctx, k)
	pipe.Expire(ctx, k, l.Window+time.Second)
	if _, err := pipe.Exec(ctx); err != nil {
		l.log.WarnContext(ctx, "rate limiter unavailable; allowing", "err", err)
		return nil
	}
	if incr.Val() > int64(l.Max) {
		return fmt.Errorf("%w (limit %d per %s)", ErrRateLimited, l.Max, l.Window)
	}
	return nil
}
