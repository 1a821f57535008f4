package admission

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livegate/livegate/internal/problem"
)

// CapacityLimits are how much the node takes on; a zero field is no limit.
type CapacityLimits struct {
	Viewers int     // viewer connections, up or coming up
	Egress  int64   // bits per second of media sent
	CPU     float64 // share of the node's CPUs in use, 0 to 1
}

// Load is what the node carries now.
type Load struct {
	Viewers int
	Egress  int64   // bits per second, over the last sample
	CPU     float64 // share of the node's CPUs, smoothed over a few seconds
	// CPUNow is the share over the last sample alone (half a second): what shedding
	// reacts to.
	CPUNow float64
}

// Capacity refuses new viewers when the node is full, so that those already watching
// keep their quality. Viewers are counted when asked; egress and CPU (a CPUMeter: the
// process's own use, and the stalls and steal of a node its neighbours starve) are
// sampled twice a second by Run.
//
// The CPU limit looks one viewer ahead: a join is refused when the load plus what one
// more viewer costs (the load over the viewers, at the last sample) would pass it, and
// the viewers joined since that sample are counted at the same cost, so that a burst of
// joins between two samples cannot overshoot the limit by the burst. The load is the
// higher of the last sample and the smoothed one: joins' handshakes count while they
// last.
type Capacity struct {
	limits   CapacityLimits
	viewers  func() int
	sent     func() uint64 // media bytes sent so far
	rejected *prometheus.CounterVec
	shedding func() bool // the SFU is shedding viewers' video (sfu.SFU.Shedding)

	mu   sync.Mutex
	load Load
	last sample
	cpu  CPUMeter
}

type sample struct {
	at      time.Time
	sent    uint64
	viewers int
}

// sampleEvery is how often Run samples the node's load.
const sampleEvery = 500 * time.Millisecond

// NewCapacity watches the node's load against limits. viewers counts viewer
// connections; sent reports the media bytes sent so far.
func NewCapacity(limits CapacityLimits, viewers func() int, sent func() uint64, rejected *prometheus.CounterVec) *Capacity {
	c := &Capacity{limits: limits, viewers: viewers, sent: sent, rejected: rejected, cpu: NewHostCPU()}
	c.last = c.sample()
	return c
}

// UseCPUMeter makes the node's CPU load m's readings (a test drives it; HostCPU by
// default).
func (c *Capacity) UseCPUMeter(m CPUMeter) {
	c.mu.Lock()
	c.cpu = m
	c.mu.Unlock()
}

// RefuseWhile makes admission refuse new viewers while f reports true: the SFU sheds
// video of viewers already watching, who come first.
func (c *Capacity) RefuseWhile(f func() bool) {
	c.mu.Lock()
	c.shedding = f
	c.mu.Unlock()
}

// CPUNow is the share of the node's CPUs taken over the last sample (sfu.CPUGauge).
func (c *Capacity) CPUNow() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.load.CPUNow
}

// Run samples the node's load twice a second until ctx ends.
func (c *Capacity) Run(ctx context.Context) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.update()
		}
	}
}

func (c *Capacity) sample() sample {
	s := sample{at: time.Now()}
	if c.sent != nil {
		s.sent = c.sent()
	}
	if c.viewers != nil {
		s.viewers = c.viewers()
	}
	return s
}

func (c *Capacity) update() {
	now := c.sample()
	c.mu.Lock()
	defer c.mu.Unlock()
	wall := now.at.Sub(c.last.at)
	if wall <= 0 {
		return
	}
	c.load.Egress = int64(float64(now.sent-c.last.sent) * 8 / wall.Seconds())
	cpu := c.cpu.Busy()
	c.load.CPUNow = cpu
	// Smoothed over about three seconds: one busy second (a burst of joins, a GC) is not
	// a full node, three are.
	c.load.CPU += (cpu - c.load.CPU) / 6
	c.last = now
}

// Load reports the node's load.
func (c *Capacity) Load() Load {
	c.mu.Lock()
	l := c.load
	c.mu.Unlock()
	if c.viewers != nil {
		l.Viewers = c.viewers()
	}
	return l
}

// retryFull is the Retry-After of a full node: long enough for viewers to leave or for
// a load balancer to have sent the caller elsewhere.
const retryFull = 10 * time.Second

// Full reports, without counting a refusal, whether the node would refuse a viewer now.
func (c *Capacity) Full() bool {
	if c == nil {
		return false
	}
	_, full := c.check()
	return full
}

// AdmitViewer refuses a new viewer when the node is at one of its limits.
func (c *Capacity) AdmitViewer() *problem.Error {
	if c == nil {
		return nil
	}
	limit, full := c.check()
	if !full {
		return nil
	}
	return c.refuse(limit.name, limit.msg)
}

type limitHit struct{ name, msg string }

// check names the limit the node is at, if any.
func (c *Capacity) check() (limitHit, bool) {
	l, lim := c.Load(), c.limits
	switch {
	case lim.Viewers > 0 && l.Viewers >= lim.Viewers:
		return limitHit{"capacity-viewers", fmt.Sprintf("this node serves its limit of %d viewers", lim.Viewers)}, true
	// One more viewer adds about what an average viewer takes.
	case lim.Egress > 0 && l.Egress+l.Egress/int64(max(l.Viewers, 1)) > lim.Egress:
		return limitHit{"capacity-egress", fmt.Sprintf("this node sends %d kbit/s of its limit of %d kbit/s", l.Egress/1000, lim.Egress/1000)}, true
	case lim.CPU > 0 && c.projectedCPU(l) >= lim.CPU:
		return limitHit{"capacity-cpu", fmt.Sprintf("this node's CPUs are %.0f%% busy (limit %.0f%%)", l.CPU*100, lim.CPU*100)}, true
	case c.isShedding():
		return limitHit{"capacity-shedding", "this node is saturated: viewers already watching have given up video to it"}, true
	}
	return limitHit{}, false
}

// projectedCPU is the node's CPU with one more viewer, and those joined since the last
// sample, each at the average viewer's cost then.
func (c *Capacity) projectedCPU(l Load) float64 {
	c.mu.Lock()
	at := c.last.viewers
	c.mu.Unlock()
	if at == 0 {
		return l.CPU
	}
	// A viewer's cost from the lower of the two readings: a burst of joins spends more on
	// handshakes than their media will cost, and counted per viewer it would refuse a
	// node at a fraction of its load; the burst itself is in the higher one.
	perViewer := min(l.CPU, l.CPUNow) / float64(at)
	return max(l.CPU, l.CPUNow) + perViewer*float64(max(l.Viewers-at, 0)+1)
}

func (c *Capacity) isShedding() bool {
	c.mu.Lock()
	f := c.shedding
	c.mu.Unlock()
	return f != nil && f()
}

func (c *Capacity) refuse(limit, msg string) *problem.Error {
	if c.rejected != nil {
		c.rejected.WithLabelValues(limit).Inc()
	}
	return &problem.Error{Status: http.StatusServiceUnavailable, Type: "node-at-capacity", Title: "Node at capacity",
		Msg: msg, Hint: msg + "; retry later or on another node", RetryAfter: retryFull}
}
