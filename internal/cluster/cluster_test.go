package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livegate/livegate/internal/ids"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/testservices"
)

func TestRelayTokens(t *testing.T) {
	secret := []byte("fleet-secret-0123456789abcdef")
	now := time.Now()
	tok := relayToken(secret, "str_a", now.Add(30*time.Second))
	if !validRelayToken(secret, "str_a", tok, now) {
		t.Fatal("a fresh token refused")
	}
	for name, ok := range map[string]bool{
		"another stream": validRelayToken(secret, "str_b", tok, now),
		"another secret": validRelayToken([]byte("another-secret-0123456789abcdef"), "str_a", tok, now),
		"expired":        validRelayToken(secret, "str_a", tok, now.Add(31*time.Second)),
		"garbage":        validRelayToken(secret, "str_a", "not-a-token", now),
		"truncated":      validRelayToken(secret, "str_a", tok[:len(tok)-2], now),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func testRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	opts, err := redis.ParseURL(testservices.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		testservices.Missing(t, "Redis", err)
	}
	return rdb
}

// Nodes come and go with their heartbeat; origins belong to whoever holds them.
func TestRegistryOnRealRedis(t *testing.T) {
	ctx := context.Background()
	reg := NewRegistry(testRedis(t), "lgtest:"+ids.Session()+":", 400*time.Millisecond)
	for _, id := range []string{"a", "b"} {
		if err := reg.Register(ctx, Node{ID: id, URL: "http://" + id, Viewers: 3}); err != nil {
			t.Fatal(err)
		}
	}
	nodes, err := reg.Nodes(ctx)
	if err != nil || len(nodes) != 2 {
		t.Fatalf("nodes %+v, %v", nodes, err)
	}
	if err := reg.Deregister(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := reg.Node(ctx, "b"); ok {
		t.Fatal("a deregistered node is still there")
	}

	if err := reg.ClaimOrigin(ctx, "str_1", "a"); err != nil {
		t.Fatal(err)
	}
	if n, ok, err := reg.Origin(ctx, "str_1"); err != nil || !ok || n.ID != "a" {
		t.Fatalf("origin %+v %v %v", n, ok, err)
	}
	// Another node renewing does not take a record a live holder has.
	if err := reg.renewOrigins(ctx, "c", []string{"str_1"}); err != nil {
		t.Fatal(err)
	}
	if id, _ := reg.rdb.Get(ctx, reg.originKey("str_1")).Result(); id != "a" {
		t.Fatalf("origin taken over by a renewal: %q", id)
	}
	// Releasing by a node that does not hold it is nothing.
	_ = reg.ReleaseOrigin(ctx, "str_1", "c")
	if _, ok, _ := reg.Origin(ctx, "str_1"); !ok {
		t.Fatal("a release by another node removed the origin")
	}

	// A node that stops its heartbeat drops out, and so does its origin.
	poll.Until(t, 2*time.Second, "the node gone after its TTL", func() error {
		nodes, err := reg.Nodes(ctx)
		if err != nil {
			return err
		}
		return poll.Want(len(nodes) == 0, "nodes %+v", nodes)
	})
	if _, ok, _ := reg.Origin(ctx, "str_1"); ok {
		t.Fatal("the origin of a dead node is still there")
	}
	lastHeard := time.Now().Add(-3 * time.Second).Truncate(time.Millisecond)
	marks, err := reg.orphanedSince(ctx, map[string]time.Time{"str_1": lastHeard}, nil, time.Minute)
	since := marks["str_1"]
	if err != nil || !since.Equal(lastHeard) {
		t.Fatalf("orphaned since %v, %v; want since the origin was last heard of, %v", since, err, lastHeard)
	}
	marks, _ = reg.orphanedSince(ctx, map[string]time.Time{"str_1": time.Now()}, nil, time.Minute)
	if again := marks["str_1"]; !again.Equal(since) {
		t.Fatalf("orphaned again moved its start: %v then %v", since, again)
	}
}
