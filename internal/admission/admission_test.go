package admission

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/testservices"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

func TestRulesParse(t *testing.T) {
	rs := DefaultRules()
	if err := rs.Set("checkout-viewer=3/m, whep=10/s:40,collect=off"); err != nil {
		t.Fatal(err)
	}
	if got := rs[CheckoutViewer]; got != (Rule{Count: 3, Per: time.Minute, Burst: 3}) {
		t.Errorf("checkout-viewer = %+v", got)
	}
	if got := rs[WHEP]; got != (Rule{Count: 10, Per: time.Second, Burst: 40}) {
		t.Errorf("whep = %+v", got)
	}
	if !rs[Collect].Off() {
		t.Error("collect=off left the rule on")
	}
	round := DefaultRules()
	if err := round.Set(rs.String()); err != nil || round.String() != rs.String() {
		t.Errorf("String does not read back: %q -> %q (%v)", rs.String(), round.String(), err)
	}
	for _, bad := range []string{"nope=1/s", "whep", "whep=1", "whep=0/s", "whep=1/d", "whep=1/s:0", "whep=x/s"} {
		if err := DefaultRules().Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	all := DefaultRules()
	if err := all.Set("off"); err != nil {
		t.Fatal(err)
	}
	for n, r := range all {
		if !r.Off() {
			t.Errorf("off left %s on", n)
		}
	}
}

func TestAllowRefusesPastBurstWithRetryAfter(t *testing.T) {
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r"}, []string{"limit"})
	l := NewLimits(Rules{Checkout: {Count: 1, Per: time.Minute, Burst: 3}}, Options{Rejected: rejected})
	ctx := context.Background()
	for i := range 3 {
		if err := l.Allow(ctx, Checkout, "10.0.0.1"); err != nil {
			t.Fatalf("request %d refused: %v", i, err)
		}
	}
	err := l.Allow(ctx, Checkout, "10.0.0.1")
	if err == nil || err.Status != http.StatusTooManyRequests || err.Type != "rate-limited" {
		t.Fatalf("4th request: %+v", err)
	}
	if err.RetryAfter < 59*time.Second || err.RetryAfter > 60*time.Second {
		t.Errorf("Retry-After %v, want a minute: the next event of a 1/m rule", err.RetryAfter)
	}
	if err := l.Allow(ctx, Checkout, "10.0.0.2"); err != nil {
		t.Errorf("another client refused: %v", err)
	}
	if err := l.Allow(ctx, Collect, "10.0.0.1"); err != nil {
		t.Errorf("a rule with no limit refused: %v", err)
	}
	if got := testutil.ToFloat64(rejected.WithLabelValues(Checkout)); got != 1 {
		t.Errorf("rejections counted %v, want 1", got)
	}
}

func TestBlockedOnlyAfterFailures(t *testing.T) {
	l := NewLimits(Rules{WHIPKey: {Count: 1, Per: time.Minute, Burst: 2}}, Options{})
	if err := l.Blocked(WHIPKey, "a"); err != nil {
		t.Fatalf("blocked before any failure: %v", err)
	}
	l.Spend(WHIPKey, "a")
	if err := l.Blocked(WHIPKey, "a"); err != nil {
		t.Fatalf("blocked after one failure of two: %v", err)
	}
	l.Spend(WHIPKey, "a")
	err := l.Blocked(WHIPKey, "a")
	if err == nil || err.RetryAfter < 59*time.Second {
		t.Fatalf("after two failures: %+v", err)
	}
	if l.Blocked(WHIPKey, "b") != nil {
		t.Error("another client blocked")
	}
}

func TestManyKeysShareOneBucketPastTheBound(t *testing.T) {
	k := &keyed{rule: Rule{Count: 1, Per: time.Hour, Burst: 1}, keys: map[string]*bucket{}}
	now := time.Now()
	k.lastSweep = now
	for i := range maxKeys {
		k.bucket(fmt.Sprint(i), now)
	}
	if d := k.take("new-1", now); d != 0 {
		t.Fatal("the overflow bucket's first event refused")
	}
	if d := k.take("new-2", now); d == 0 {
		t.Fatal("a second key past the bound got a bucket of its own")
	}
	if len(k.keys) != maxKeys+1 {
		t.Errorf("%d keys tracked, want %d", len(k.keys), maxKeys+1)
	}
	// Keys whose bucket has filled again are forgotten.
	k.take("new-3", now.Add(2*time.Hour))
	if len(k.keys) > 2 {
		t.Errorf("%d keys after the sweep", len(k.keys))
	}
}

func TestClientKeyGroupsIPv6By64(t *testing.T) {
	a := ClientKey(netip.MustParseAddr("2001:db8:1:2:aaaa::1"))
	b := ClientKey(netip.MustParseAddr("2001:db8:1:2:bbbb::9"))
	c := ClientKey(netip.MustParseAddr("2001:db8:1:3::1"))
	if a != b || a == c {
		t.Errorf("keys %q %q %q", a, b, c)
	}
	if got := ClientKey(netip.MustParseAddr("::ffff:192.0.2.7")); got != "192.0.2.7" {
		t.Errorf("mapped IPv4 key %q", got)
	}
}

// TestSharedLimitHoldsAcrossNodes runs two Limits on one real Redis, as two nodes would.
func TestSharedLimitHoldsAcrossNodes(t *testing.T) {
	ropts, err := redis.ParseURL(testservices.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		testservices.Missing(t, "Redis", err)
	}
	prefix := fmt.Sprintf("lgtest:%d:", time.Now().UnixNano())
	rules := Rules{CheckoutViewer: {Count: 5, Per: time.Minute, Burst: 5}}
	opts := Options{Redis: rdb, Prefix: prefix, Shared: []string{CheckoutViewer}}
	nodeA, nodeB := NewLimits(rules, opts), NewLimits(rules, opts)
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := nodeA
			if i%2 == 1 {
				l = nodeB
			}
			if l.Allow(context.Background(), CheckoutViewer, "viewer-1") == nil {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 5 {
		t.Errorf("%d of 20 checkouts over two nodes allowed, want the burst of 5", allowed)
	}
}

func TestConnsCapPerClientAndNode(t *testing.T) {
	c := NewConns("event-streams", 2, 3, nil, nil)
	r1, err := c.Open("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Open("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Open("a"); err == nil || err.Status != http.StatusTooManyRequests {
		t.Fatalf("third from one client: %+v", err)
	}
	if _, err := c.Open("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Open("c"); err == nil || err.Status != http.StatusServiceUnavailable {
		t.Fatalf("past the node's cap: %+v", err)
	}
	r1()
	r1()
	if _, err := c.Open("c"); err != nil {
		t.Fatalf("after a release (called twice): %v", err)
	}
	if _, err := c.Open("d"); err == nil {
		t.Fatal("a double release freed two slots")
	}
}

func TestCapacityRefusesViewersAndEgress(t *testing.T) {
	viewers := 0
	var sent uint64
	c := NewCapacity(CapacityLimits{Viewers: 3, Egress: 1_000_000}, func() int { return viewers }, func() uint64 { return sent }, nil)
	viewers = 2
	if err := c.AdmitViewer(); err != nil {
		t.Fatalf("under the limits: %v", err)
	}
	viewers = 3
	if err := c.AdmitViewer(); err == nil || err.Status != http.StatusServiceUnavailable || err.RetryAfter == 0 {
		t.Fatalf("at the viewer limit: %+v", err)
	}
	viewers = 1
	c.last.at = time.Now().Add(-time.Second)
	sent = 100_000 // 800 kbit in about a second; one more viewer would make 1.6 Mbit/s
	c.update()
	if err := c.AdmitViewer(); err == nil || err.Type != "node-at-capacity" {
		t.Fatalf("egress: %+v (load %+v)", err, c.Load())
	}
}
