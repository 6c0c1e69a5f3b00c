package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisURL is the Redis tests use.
func RedisURL() string {
	if u := os.Getenv("MERIDIAN_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Redis returns a client and a key prefix of the test's own; every key under
// the prefix is deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("testenv: MERIDIAN_TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("testenv: Redis is required for this test and did not answer at %s: %v", RedisURL(), err)
	}
	prefix := fmt.Sprintf("test:%s:%d:", sanitize(t.Name()), time.Now().UnixNano())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	return rdb, prefix
}

// TemporalAddress is the Temporal frontend tests use; the test fails when
// nothing answers there. `make test` starts a dev server for it.
func TemporalAddress(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("MERIDIAN_TEST_TEMPORAL_ADDRESS")
	if addr == "" {
		addr = "127.0.0.1:7244"
	}
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatalf("testenv: Temporal is required for this test and did not answer at %s (run `make test`, which starts a dev server): %v", addr, err)
	}
	conn.Close()
	return addr
}

// Unique returns a short name unique to this test run, for workflow IDs and
// task queues.
func Unique(t testing.TB, what string) string {
	return fmt.Sprintf("%s-%s-%d", what, strings.ReplaceAll(sanitize(t.Name()), "_", "-"), time.Now().UnixNano())
}
