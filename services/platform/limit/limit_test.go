package limit_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"meridian.dev/platform/fault"
	"meridian.dev/platform/limit"
	"meridian.dev/platform/testenv"
)

// window is long enough that a test never straddles two fixed windows.
const window = 1000 * time.Hour

func logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func TestAllowLimitsPerKey(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	l := limit.New(rdb, prefix, 3, window, logger(t))
	for i := 1; i <= 3; i++ {
		if err := l.Allow(ctx, "alice"); err != nil {
			t.Fatalf("call %d: %v, want allowed", i, err)
		}
	}
	for i := 4; i <= 5; i++ {
		err := l.Allow(ctx, "alice")
		if !errors.Is(err, limit.ErrRateLimited) {
			t.Fatalf("call %d: %v, want ErrRateLimited", i, err)
		}
		if fault.CodeOf(err) != fault.RateLimited {
			t.Errorf("CodeOf = %s, want RATE_LIMITED", fault.CodeOf(err))
		}
	}
	// Another key has its own budget.
	for i := 1; i <= 3; i++ {
		if err := l.Allow(ctx, "bob"); err != nil {
			t.Fatalf("bob call %d: %v, want allowed", i, err)
		}
	}
	if err := l.Allow(ctx, "bob"); !errors.Is(err, limit.ErrRateLimited) {
		t.Fatalf("bob call 4: %v, want ErrRateLimited", err)
	}
	// The counters live under the prefix and expire.
	keys, err := rdb.Keys(ctx, prefix+"ratelimit:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("rate limit keys = %v, want one per caller", keys)
	}
	for _, k := range keys {
		ttl, err := rdb.TTL(ctx, k).Result()
		if err != nil || ttl <= 0 || ttl > window+time.Second {
			t.Errorf("TTL(%s) = %s, %v; want at most the window", k, ttl, err)
		}
	}
}

func TestAllowWindowResets(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	const short = 200 * time.Millisecond
	l := limit.New(rdb, prefix, 1, short, logger(t))
	// Start at the beginning of a window so both calls share it.
	time.Sleep(time.Until(time.Now().Truncate(short).Add(short)))
	if err := l.Allow(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := l.Allow(ctx, "k"); !errors.Is(err, limit.ErrRateLimited) {
		t.Fatalf("second call in the window: %v, want ErrRateLimited", err)
	}
	time.Sleep(time.Until(time.Now().Truncate(short).Add(short)))
	if err := l.Allow(ctx, "k"); err != nil {
		t.Fatalf("first call of the next window: %v", err)
	}
}

func TestAllowDisabled(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	for _, max := range []int{0, -1} {
		l := limit.New(rdb, prefix, max, window, logger(t))
		for i := range 50 {
			if err := l.Allow(ctx, "alice"); err != nil {
				t.Fatalf("max %d call %d: %v, want disabled", max, i, err)
			}
		}
	}
	var nilLimiter *limit.Limiter
	if err := nilLimiter.Allow(ctx, "alice"); err != nil {
		t.Fatalf("nil limiter: %v", err)
	}
	if keys, err := rdb.Keys(ctx, prefix+"*").Result(); err != nil || len(keys) != 0 {
		t.Fatalf("a disabled limiter wrote %v, %v", keys, err)
	}
}

// TestAllowFailsOpen points the limiter at a port where no Redis listens, on
// purpose: a Redis outage must not stop a manager from reporting a lockdown.
func TestAllowFailsOpen(t *testing.T) {
	t.Parallel()
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer dead.Close()
	if err := dead.Ping(context.Background()).Err(); err == nil {
		t.Fatal("something answers on 127.0.0.1:1; this test needs a dead address")
	}
	l := limit.New(dead, "test:", 1, window, logger(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		if err := l.Allow(ctx, "alice"); err != nil {
			t.Fatalf("call %d with Redis down: %v, want allowed", i, err)
		}
	}
}
