package admission

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/livegate/livegate/internal/problem"
)

// maxKeys bounds the keys one rule tracks in process. Past it, new keys share one
// bucket: a caller that spreads over more addresses than that is limited together.
const maxKeys = 1 << 17

// sweepEvery is how often a rule forgets keys whose bucket has filled again.
const sweepEvery = 30 * time.Second

// Limits applies the rate limits. Rules named in Shared are kept in Redis, so that they
// hold across a fleet (a viewer's checkouts); the rest are per node, in process.
type Limits struct {
	rules    Rules
	local    map[string]*keyed
	shared   *redis_rate.Limiter
	prefix   string
	sharedOK map[string]bool
	rejected *prometheus.CounterVec
	log      *slog.Logger
}

// Options configure Limits.
type Options struct {
	// Redis, when set, keeps the rules named in Shared across the fleet.
	Redis  redis.UniversalClient
	Prefix string // of the Redis keys
	Shared []string
	// Rejected counts refusals by limit; nil counts nothing.
	Rejected *prometheus.CounterVec
	Logger   *slog.Logger
}

// NewLimits returns limits applying rules.
func NewLimits(rules Rules, o Options) *Limits {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Limits{rules: rules, local: map[string]*keyed{}, prefix: o.Prefix, sharedOK: map[string]bool{},
		rejected: o.Rejected, log: o.Logger}
	for name, r := range rules {
		if !r.Off() {
			l.local[name] = &keyed{rule: r, keys: map[string]*bucket{}}
		}
	}
	if o.Redis != nil {
		l.shared = redis_rate.NewLimiter(o.Redis)
		for _, n := range o.Shared {
			l.sharedOK[n] = true
		}
	}
	return l
}

// Allow takes one event of rule name for key. Over the limit it returns the problem to
// answer, with how long to wait, and counts the refusal; an empty key is never limited.
func (l *Limits) Allow(ctx context.Context, name, key string) *problem.Error {
	if l == nil || key == "" {
		return nil
	}
	k := l.local[name]
	if k == nil {
		return nil
	}
	var wait time.Duration
	if l.shared != nil && l.sharedOK[name] {
		res, err := l.shared.Allow(ctx, l.prefix+"rl:"+name+":"+key, redis_rate.Limit{
			Rate: k.rule.Count, Period: k.rule.Per, Burst: k.rule.Burst})
		if err != nil {
			// Redis down is not the caller's fault: the node's own bucket stands in.
			l.log.Warn("shared rate limit unavailable; limiting on this node", "limit", name, "err", err)
			wait = k.take(key, time.Now())
		} else if res.Allowed == 0 {
			wait = max(res.RetryAfter, time.Second)
		}
	} else {
		wait = k.take(key, time.Now())
	}
	if wait <= 0 {
		return nil
	}
	return l.refuse(name, wait)
}

// Blocked reports, without taking anything, whether rule name has nothing left for key;
// with Spend it makes a budget of failures (rejected stream keys) that slows a caller
// down only when it fails.
func (l *Limits) Blocked(name, key string) *problem.Error {
	if l == nil || key == "" || l.local[name] == nil {
		return nil
	}
	if wait := l.local[name].peek(key, time.Now()); wait > 0 {
		return l.refuse(name, wait)
	}
	return nil
}

// Spend takes one event of rule name for key, whether or not any is left.
func (l *Limits) Spend(name, key string) {
	if l == nil || key == "" || l.local[name] == nil {
		return
	}
	l.local[name].take(key, time.Now())
}

func (l *Limits) refuse(name string, wait time.Duration) *problem.Error {
	if l.rejected != nil {
		l.rejected.WithLabelValues(name).Inc()
	}
	// Retry-After is in whole seconds; rounding up never invites a retry too soon.
	wait = (wait + time.Second - 1).Truncate(time.Second)
	return &problem.Error{Status: http.StatusTooManyRequests, Type: "rate-limited", Title: "Too many requests",
		Msg: "too many " + name + " requests", Hint: "the " + name + " limit is " + l.rules[name].String() +
			"; retry after the time in Retry-After", RetryAfter: wait}
}

// keyed is one rule's buckets by key.
type keyed struct {
	rule Rule

	mu        sync.Mutex
	keys      map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// overflowKey is the bucket every key shares once a rule tracks maxKeys.
const overflowKey = "\x00overflow"

func (k *keyed) bucket(key string, now time.Time) *bucket {
	if now.Sub(k.lastSweep) > sweepEvery {
		k.lastSweep = now
		idle := k.rule.refill()
		for key, b := range k.keys {
			if now.Sub(b.seen) >= idle {
				delete(k.keys, key)
			}
		}
	}
	b := k.keys[key]
	if b == nil {
		if len(k.keys) >= maxKeys {
			key = overflowKey
			if b = k.keys[key]; b != nil {
				b.seen = now
				return b
			}
		}
		b = &bucket{lim: rate.NewLimiter(k.rule.limit(), k.rule.Burst)}
		k.keys[key] = b
	}
	b.seen = now
	return b
}

// take spends one event; it returns 0, or how long until one would have been allowed.
func (k *keyed) take(key string, now time.Time) time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.bucket(key, now)
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// peek reports how long until key has an event to spend, 0 when it has one now.
func (k *keyed) peek(key string, now time.Time) time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.keys[key]
	if b == nil {
		return 0
	}
	tokens := b.lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(b.lim.Limit()) * float64(time.Second))
}

// ClientKey is the key of a client address: an IPv4 address, or an IPv6 address's /64,
// since one IPv6 subscriber is usually handed a whole /64 to pick addresses from.
func ClientKey(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
