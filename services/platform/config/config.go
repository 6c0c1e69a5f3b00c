// Package config reads service settings from environment variables with
// documented defaults. Each service declares one struct and fills it here.
package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Reader collects the first parse error so a service reports every bad
// variable name at once instead of failing on them one by one.
type Reader struct {
	errs []string
}

// String returns the variable or def when unset or empty.
func (r *Reader) String(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// Int returns the variable parsed as an integer.
func (r *Reader) Int(key string, def int) int {
	v := r.String(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Sprintf("%s=%q is not an integer", key, v))
		return def
	}
	return n
}

// Bool returns the variable parsed by strconv.ParseBool (true, false, 1, 0…);
// anything else is an error rather than a silent default.
func (r *Reader) Bool(key string, def bool) bool {
	v := r.String(key, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Sprintf("%s=%q is not true or false", key, v))
		return def
	}
	return b
}

// Duration returns the variable parsed by time.ParseDuration.
func (r *Reader) Duration(key string, def time.Duration) time.Duration {
	v := r.String(key, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Sprintf("%s=%q is not a duration (e.g. 30s, 5m)", key, v))
		return def
	}
	return d
}

// Err returns every parse problem seen, or nil.
func (r *Reader) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("config: %s", strings.Join(r.errs, "; "))
}

// Common settings every Meridian process shares.
type Common struct {
	Env          string // MERIDIAN_ENV: development (default) or production
	DatabaseURL  string // DATABASE_URL
	RedisURL     string // REDIS_URL
	RedisPrefix  string // MERIDIAN_REDIS_PREFIX: namespace for every key
	TemporalHost string // TEMPORAL_ADDRESS
	TemporalNS   string // TEMPORAL_NAMESPACE
	LogLevel     string // LOG_LEVEL: debug, info, warn, error
	LogFormat    string // LOG_FORMAT: json (default) or text
	OTLPEndpoint string // OTEL_EXPORTER_OTLP_ENDPOINT: traces exported when set
}

// ReadCommon fills the shared settings.
func ReadCommon(r *Reader) Common {
	return Common{
		Env:          r.String("MERIDIAN_ENV", "development"),
		DatabaseURL:  r.String("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/meridian?sslmode=disable"),
		RedisURL:     r.String("REDIS_URL", "redis://127.0.0.1:6379/0"),
		RedisPrefix:  r.String("MERIDIAN_REDIS_PREFIX", "meridian:"),
		TemporalHost: r.String("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		TemporalNS:   r.String("TEMPORAL_NAMESPACE", "default"),
		LogLevel:     r.String("LOG_LEVEL", "info"),
		LogFormat:    r.String("LOG_FORMAT", "json"),
		OTLPEndpoint: r.String("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
	}
}

// Production reports whether the process runs with production safeguards.
func (c Common) Production() bool { return c.Env == "production" }

// Development reports whether the process runs as a developer's machine
// does: MERIDIAN_ENV unset or "development". Conveniences that hand out
// credentials (the board's persona tokens) need it, so that any other
// value — production, or a deployment's own name like staging — turns
// them off.
func (c Common) Development() bool { return c.Env == "development" }
