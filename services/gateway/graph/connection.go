package graph

import (
	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/site"
)

// pageSize is a connection's `first`: its default when the client leaves it
// out or sends null (graphql-go cannot put null in a plain int32), and
// never more than a page may hold.
func pageSize(first graphql.NullInt, def int32) (int, error) {
	if first.Value == nil {
		return site.ClampFirst(def)
	}
	return site.ClampFirst(*first.Value)
}

// connection is a Relay connection of nodes of type N: every list in the
// API is one, so none writes its own edges and page info.
type connection[N any] struct {
	edges   []*edge[N]
	hasNext bool
}

type edge[N any] struct {
	cursor string
	node   N
}

// newConnection pairs each item, shaped by wrap, with its cursor.
func newConnection[T, N any](items []T, cursor func(i int, item T) string, hasNext bool, wrap func(T) N) *connection[N] {
	c := &connection[N]{hasNext: hasNext, edges: make([]*edge[N], len(items))}
	for i, item := range items {
		c.edges[i] = &edge[N]{cursor: cursor(i, item), node: wrap(item)}
	}
	return c
}

func (c *connection[N]) Edges() []*edge[N] { return c.edges }

func (c *connection[N]) PageInfo() *pageInfoResolver {
	p := &pageInfoResolver{hasNext: c.hasNext}
	if n := len(c.edges); n > 0 {
		p.end = &c.edges[n-1].cursor
	}
	return p
}

func (e *edge[N]) Cursor() string { return e.cursor }
func (e *edge[N]) Node() N        { return e.node }

type pageInfoResolver struct {
	hasNext bool
	end     *string
}

func (p *pageInfoResolver) HasNextPage() bool  { return p.hasNext }
func (p *pageInfoResolver) EndCursor() *string { return p.end }
