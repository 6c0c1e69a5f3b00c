package graph

import (
	"context"
	"sync"
)

// loaders holds one request's batch loaders, made on first use.
type loaders struct {
	mu  sync.Mutex
	all map[string]any
}

type loadersKey struct{}

// WithLoaders returns ctx carrying fresh per-request loaders. Every HTTP
// request and WebSocket operation gets its own.
func WithLoaders(ctx context.Context) context.Context {
	return context.WithValue(ctx, loadersKey{}, newLoaders())
}

func newLoaders() *loaders { return &loaders{all: map[string]any{}} }

// loadersOf returns the request's loaders. An object resolver keeps the
// loaders it was made with rather than reading its field's context: each
// event of a long-lived subscription gets new ones (newLoaders), where the
// subscription's own would serve every later event what the first found.
func loadersOf(ctx context.Context) *loaders {
	ls, _ := ctx.Value(loadersKey{}).(*loaders)
	return ls
}

// loader batches reads of one kind within one request: a list registers
// (want) every key its items will need, and the first load fetches them all
// in one call, so `escalations { site }` costs one query, not N.
type loader[K comparable, V any] struct {
	fetch   func(ctx context.Context, keys []K) (map[K]V, error)
	missing error // what load answers for a key fetch did not find

	mu      sync.Mutex
	pending map[K]bool
	loaded  map[K]V
}

// loaderFor returns the loader called name among ls, making it with fetch
// on first use. With no loaders (nil) it returns a loader of its own, which
// still fetches, one batch at a time.
func loaderFor[K comparable, V any](ls *loaders, name string, missing error, fetch func(context.Context, []K) (map[K]V, error)) *loader[K, V] {
	fresh := func() *loader[K, V] {
		return &loader[K, V]{fetch: fetch, missing: missing, pending: map[K]bool{}, loaded: map[K]V{}}
	}
	if ls == nil {
		return fresh()
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if l, ok := ls.all[name].(*loader[K, V]); ok {
		return l
	}
	l := fresh()
	ls.all[name] = l
	return l
}

// want registers keys to fetch with the next load.
func (l *loader[K, V]) want(keys ...K) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if _, ok := l.loaded[k]; !ok {
			l.pending[k] = true
		}
	}
}

// load returns the value of key, fetching it with everything pending.
func (l *loader[K, V]) load(ctx context.Context, key K) (V, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v, ok := l.loaded[key]; ok {
		return v, nil
	}
	l.pending[key] = true
	keys := make([]K, 0, len(l.pending))
	for k := range l.pending {
		keys = append(keys, k)
	}
	found, err := l.fetch(ctx, keys)
	if err != nil {
		var zero V
		return zero, err
	}
	for k, v := range found {
		l.loaded[k] = v
	}
	clear(l.pending)
	v, ok := l.loaded[key]
	if !ok {
		return v, l.missing
	}
	return v, nil
}
