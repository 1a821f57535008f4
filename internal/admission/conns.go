package admission

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livegate/livegate/internal/problem"
)

// Conns caps long-lived connections of one kind (event streams) per client and on the
// node. A rate limit does not bound them: each is cheap to open and then held for hours.
type Conns struct {
	name      string
	perClient int // 0: no cap
	total     int // 0: no cap
	rejected  *prometheus.CounterVec

	mu     sync.Mutex
	n      int
	byKey  map[string]int
	opened prometheus.Gauge
}

// NewConns caps connections called name at perClient per client key and total on the
// node (0: no cap). open, when set, is kept at the number open.
func NewConns(name string, perClient, total int, rejected *prometheus.CounterVec, open prometheus.Gauge) *Conns {
	return &Conns{name: name, perClient: perClient, total: total, rejected: rejected, byKey: map[string]int{}, opened: open}
}

// Open takes a slot for key; release gives it back (once, however often it is called).
func (c *Conns) Open(key string) (release func(), err *problem.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.total > 0 && c.n >= c.total:
		// The node is full, not the caller at fault: 503, as for viewers at capacity.
		return nil, c.refuse(http.StatusServiceUnavailable, c.name, "this node has as many "+c.name+" open as it serves")
	case c.perClient > 0 && c.byKey[key] >= c.perClient:
		return nil, c.refuse(http.StatusTooManyRequests, c.name+"-per-client", "this address has as many "+c.name+" open as one client may")
	}
	c.n++
	c.byKey[key]++
	c.gauge()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.n--
			if c.byKey[key]--; c.byKey[key] <= 0 {
				delete(c.byKey, key)
			}
			c.gauge()
		})
	}, nil
}

func (c *Conns) gauge() {
	if c.opened != nil {
		c.opened.Set(float64(c.n))
	}
}

func (c *Conns) refuse(status int, limit, msg string) *problem.Error {
	if c.rejected != nil {
		c.rejected.WithLabelValues(limit).Inc()
	}
	return &problem.Error{Status: status, Type: "too-many-connections", Title: "Too many connections",
		Msg: msg, Hint: msg + "; close one or retry later", RetryAfter: 10 * time.Second}
}
