// Package cluster makes livegate nodes a fleet: a registry of live nodes in Redis, the
// record of which node is each stream's origin (where its encoder is connected), and the
// origin-to-edge relay, so that a viewer may join any node and the origin sends one copy
// of a stream per edge, not one per viewer.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Node is one node as the fleet sees it.
type Node struct {
	ID       string    `json:"id"`
	URL      string    `json:"url"`                    // public base URL: where publishers and viewers are sent
	Internal string    `json:"internal_url,omitempty"` // where other nodes pull relays from; URL when empty
	Region   string    `json:"region,omitempty"`
	Media    []string  `json:"media,omitempty"` // UDP addresses of its ICE mux
	Viewers  int       `json:"viewers"`
	Egress   int64     `json:"egress_bps"`
	CPU      float64   `json:"cpu"`
	Full     bool      `json:"full,omitempty"` // at one of its capacity limits: send no one there
	SeenAt   time.Time `json:"seen_at"`
}

// Registry keeps nodes and stream origins in Redis. A node's entry and the origin
// records it holds expire with a TTL its heartbeat renews, so a node that dies drops out
// on its own.
type Registry struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewRegistry keeps the fleet under prefix; entries expire ttl after their last renewal.
func NewRegistry(rdb redis.UniversalClient, prefix string, ttl time.Duration) *Registry {
	return &Registry{rdb: rdb, prefix: prefix, ttl: ttl}
}

func (r *Registry) nodeKey(id string) string       { return r.prefix + "node:" + id }
func (r *Registry) nodesKey() string               { return r.prefix + "nodes" }
func (r *Registry) originKey(stream string) string { return r.prefix + "origin:" + stream }

// Register writes (or renews) n's entry.
func (r *Registry) Register(ctx context.Context, n Node) error {
	n.SeenAt = time.Now().UTC()
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.nodeKey(n.ID), b, r.ttl)
		p.SAdd(ctx, r.nodesKey(), n.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("register node %s: %w", n.ID, err)
	}
	return nil
}

// Deregister removes the node's entry at once (a drain), before its TTL would.
func (r *Registry) Deregister(ctx context.Context, id string) error {
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, r.nodeKey(id))
		p.SRem(ctx, r.nodesKey(), id)
		return nil
	})
	return err
}

// Node returns a registered node; ok is false when it is not (or no longer) registered.
func (r *Registry) Node(ctx context.Context, id string) (n Node, ok bool, err error) {
	b, err := r.rdb.Get(ctx, r.nodeKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return n, false, nil
	}
	if err != nil {
		return n, false, fmt.Errorf("node %s: %w", id, err)
	}
	if err := json.Unmarshal(b, &n); err != nil {
		return n, false, fmt.Errorf("node %s: %w", id, err)
	}
	return n, true, nil
}

// Nodes lists the registered nodes, forgetting those whose entry expired.
func (r *Registry) Nodes(ctx context.Context) ([]Node, error) {
	ids, err := r.rdb.SMembers(ctx, r.nodesKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = r.nodeKey(id)
	}
	vals, err := r.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var out []Node
	var gone []any
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			gone = append(gone, ids[i])
			continue
		}
		var n Node
		if json.Unmarshal([]byte(s), &n) == nil {
			out = append(out, n)
		}
	}
	if len(gone) > 0 {
		r.rdb.SRem(ctx, r.nodesKey(), gone...)
	}
	return out, nil
}

// ClaimOrigin records node as the stream's origin: its encoder is connected there.
func (r *Registry) ClaimOrigin(ctx context.Context, stream, node string) error {
	if err := r.rdb.Set(ctx, r.originKey(stream), node, r.ttl).Err(); err != nil {
		return fmt.Errorf("claim origin of %s: %w", stream, err)
	}
	return nil
}

// renewOrigins renews node's origin records of streams, claiming any that lapsed.
func (r *Registry) renewOrigins(ctx context.Context, node string, streams []string) error {
	if len(streams) == 0 {
		return nil
	}
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, s := range streams {
			p.Eval(ctx, renewScript, []string{r.originKey(s)}, node, r.ttl.Milliseconds())
		}
		return nil
	})
	return err
}

// renewScript renews an origin record held by this node, or takes one that lapsed; it
// never takes a record another node holds (the encoder moved there).
const renewScript = `
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`

// ReleaseOrigin forgets node as the stream's origin, unless another node holds it now.
func (r *Registry) ReleaseOrigin(ctx context.Context, stream, node string) error {
	return r.rdb.Eval(ctx, `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
		[]string{r.originKey(stream)}, node).Err()
}

// Origin returns the node the stream's encoder is connected to; ok is false when no
// registered node is.
func (r *Registry) Origin(ctx context.Context, stream string) (n Node, ok bool, err error) {
	id, err := r.rdb.Get(ctx, r.originKey(stream)).Result()
	if errors.Is(err, redis.Nil) {
		return n, false, nil
	}
	if err != nil {
		return n, false, fmt.Errorf("origin of %s: %w", stream, err)
	}
	return r.Node(ctx, id)
}

// originsOf returns the origin node id of each stream that has one, in one round trip.
func (r *Registry) originsOf(ctx context.Context, streams []string) (map[string]string, error) {
	out := map[string]string{}
	if len(streams) == 0 {
		return out, nil
	}
	keys := make([]string, len(streams))
	for i, s := range streams {
		keys[i] = r.originKey(s)
	}
	vals, err := r.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("origins: %w", err)
	}
	for i, v := range vals {
		if id, ok := v.(string); ok {
			out[streams[i]] = id
		}
	}
	return out, nil
}

func (r *Registry) orphanKey(stream string) string { return r.prefix + "orphan:" + stream }

// orphanedSince marks each of orphans as having had no origin since the time given
// (when its origin was last heard of; the first mark stands) and clears the marks of
// found, which have one again; it returns since when each orphan has had none. One
// round trip for all of them.
func (r *Registry) orphanedSince(ctx context.Context, orphans map[string]time.Time, found []string, ttl time.Duration) (map[string]time.Time, error) {
	ids := make([]string, 0, len(orphans))
	for s := range orphans {
		ids = append(ids, s)
	}
	gets := make([]*redis.StringCmd, len(ids))
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, s := range ids {
			p.SetNX(ctx, r.orphanKey(s), orphans[s].UnixMilli(), ttl)
			gets[i] = p.Get(ctx, r.orphanKey(s))
		}
		for _, s := range found {
			p.Del(ctx, r.orphanKey(s))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("orphan marks: %w", err)
	}
	out := make(map[string]time.Time, len(orphans))
	for i, s := range ids {
		if ms, err := gets[i].Int64(); err == nil {
			out[s] = time.UnixMilli(ms)
		}
	}
	return out, nil
}
