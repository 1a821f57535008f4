package bwe

import "math"

const (
	beta            = 0.85   // a cut takes the rate to this share of what the link delivered
	increasePerSec  = 1.08   // multiplicative increase far from the link's known capacity
	minIncrease     = 1_000  // bits per second, the least one increase adds
	throughputSlack = 1.5    // the rate grows to at most this multiple of what is delivered
	throughputPad   = 10_000 // bits per second, plus this
	lossHigh        = 0.10   // above this share lost, the loss-based rate falls
	lossLow         = 0.02   // below it, it may grow
	// lossRandom is the loss that, with no queue building, is taken for a lossy link (a
	// radio, a busy Wi-Fi) rather than congestion: it neither cuts the rate nor says
	// what the link can carry. Past it, loss cuts whatever the delay says.
	lossRandom     = 0.15
	lossMinPackets = 50      // a loss window needs this many packets
	lossMinWindow  = 300_000 // µs
)

// aimd is the delay-based rate: it grows while the trend is normal, holds while queues
// drain, and on overuse falls to beta times the throughput the viewer measured.
type aimd struct {
	cfg        Config
	bitrate    int
	state      int // hold, increase or decrease
	lastChange int64
	capacity   linkCapacity
}

const (
	hold = iota
	increase
	decrease
)

func (a *aimd) init(cfg Config) {
	a.cfg = cfg
	a.bitrate = cfg.Initial
	a.lastChange = -1
}

// update applies one feedback report's signal; it says whether the rate was cut.
func (a *aimd) update(u usage, thr int, hasThr bool, now, rtt int64) bool {
	switch u {
	case overusing:
		a.state = decrease
	case normal:
		if a.state == hold {
			a.state = increase
			a.lastChange = now
		}
	case underusing:
		a.state = hold // queues drain: hold until they have
	}
	cut := false
	switch a.state {
	case increase:
		if hasThr && a.capacity.known && float64(thr) > a.capacity.upper() {
			a.capacity.known = false // the link got better than we knew it
		}
		if a.lastChange < 0 {
			a.lastChange = now
		}
		dt := now - a.lastChange
		var next int
		if a.capacity.known {
			next = a.bitrate + a.additive(dt, rtt)
		} else {
			next = a.bitrate + a.multiplicative(dt)
		}
		if hasThr {
			limit := int(throughputSlack*float64(thr)) + throughputPad
			if next > limit {
				next = max(a.bitrate, limit)
			}
		}
		a.bitrate = next
		a.lastChange = now
	case decrease:
		if !a.timeToCut(thr, hasThr, now, rtt) {
			break
		}
		target := a.bitrate
		if hasThr {
			target = int(beta * float64(thr))
			if target > a.bitrate && a.capacity.known {
				target = int(beta * a.capacity.estimate)
			}
		}
		if target < a.bitrate {
			a.bitrate = target
			cut = true
		}
		if hasThr {
			a.capacity.overuse(float64(thr))
		}
		a.state = hold
		a.lastChange = now
	}
	a.bitrate = min(max(a.bitrate, a.cfg.Min), a.cfg.Max)
	return cut
}

// timeToCut spaces cuts by a round trip, so one queue is not answered twice, unless
// what arrives has fallen to half the rate.
func (a *aimd) timeToCut(thr int, hasThr bool, now, rtt int64) bool {
	interval := min(max(rtt, 10_000), 200_000)
	if a.lastChange < 0 || now-a.lastChange >= interval {
		return true
	}
	return hasThr && float64(thr) < 0.5*float64(a.bitrate)
}

func (a *aimd) multiplicative(dt int64) int {
	f := math.Pow(increasePerSec, min(float64(dt)/1e6, 1)) - 1
	return max(int(f*float64(a.bitrate)), minIncrease)
}

// additive grows by about one packet per response time, near a capacity already met.
func (a *aimd) additive(dt, rtt int64) int {
	const fps, packetBits = 30.0, 1200 * 8
	bitsPerFrame := float64(a.bitrate) / fps
	packets := math.Ceil(bitsPerFrame / packetBits)
	avgPacket := bitsPerFrame / packets
	response := float64(rtt)/1000 + 100 // ms
	perSec := max(avgPacket*1000/response, 4_000)
	return int(perSec * min(float64(dt)/1e6, 1))
}

// linkCapacity averages the throughput seen at each overuse: near it the rate grows
// additively, far below it multiplicatively.
type linkCapacity struct {
	known     bool
	estimate  float64 // bits per second
	deviation float64 // normalised variance, kbit/s
}

func (c *linkCapacity) overuse(sample float64) {
	const alpha = 0.05
	kbps := sample / 1000
	if !c.known {
		c.known, c.estimate, c.deviation = true, sample, 0.4
		return
	}
	est := c.estimate / 1000
	est = (1-alpha)*est + alpha*kbps
	errKbps := est - kbps
	c.deviation = min(max((1-alpha)*c.deviation+alpha*errKbps*errKbps/max(est, 1), 0.4), 2.5)
	c.estimate = est * 1000
}

func (c *linkCapacity) upper() float64 {
	est := c.estimate / 1000
	return (est + 3*math.Sqrt(c.deviation*est)) * 1000
}

// lossControl is the loss-based rate: heavy loss cuts it in proportion, light loss lets
// it follow the delay-based rate back up.
type lossControl struct {
	bitrate          int
	fraction         float64 // the last window's
	packets, lost    int
	windowStart      int64
	lastCut, lastAdd int64
	cfg              Config
}

func (l *lossControl) init(cfg Config) {
	l.cfg = cfg
	l.bitrate = cfg.Initial
	l.windowStart, l.lastCut, l.lastAdd = -1, -1, -1
}

// update counts one report. Heavy loss cuts the rate in proportion, and, while a queue
// builds (queueing), to no more than what got through (thr, when known): a congested
// link dropping what it is sent delivers its capacity and no more. Without a queue,
// loss up to lossRandom is the link's nature, not its capacity: cutting to what got
// through would only follow the sender's own rate down, a layer at a time, to nothing.
func (l *lossControl) update(received, lost int, now, rtt int64, delayRate, thr int, hasThr, queueing bool) {
	if l.windowStart < 0 {
		l.windowStart = now
	}
	l.packets += received + lost
	l.lost += lost
	if l.packets < lossMinPackets || now-l.windowStart < lossMinWindow {
		return
	}
	l.fraction = float64(l.lost) / float64(l.packets)
	l.packets, l.lost, l.windowStart = 0, 0, now
	random := !queueing && l.fraction <= lossRandom
	switch {
	case l.fraction > lossHigh && !random:
		if l.lastCut < 0 || now-l.lastCut >= 300_000+rtt {
			next := int(float64(min(l.bitrate, delayRate)) * (1 - 0.5*l.fraction))
			if hasThr && queueing {
				next = min(next, thr)
			}
			l.bitrate = max(next, l.cfg.Min)
			l.lastCut = now
		}
	case l.fraction < lossLow || random:
		if l.lastAdd < 0 {
			l.lastAdd = now
		}
		f := math.Pow(increasePerSec, min(float64(now-l.lastAdd)/1e6, 1))
		l.bitrate = int(f*float64(l.bitrate)) + minIncrease
	}
	l.lastAdd = now
}

// follow keeps the loss-based rate from running ahead of the delay-based one: it only
// ever holds the estimate below the delay-based rate.
func (l *lossControl) follow(delayRate int) { l.bitrate = min(l.bitrate, delayRate) }

// throughput is what the viewer received lately, from the arrival times it reported.
type throughput struct {
	spans [16]span // one per feedback report, a ring
	n     int
	head  int
}

// span is what one report acknowledged: bytes that arrived between first and last.
type span struct {
	first, last int64
	bytes       int
}

const throughputWindow = 500_000 // µs of arrivals

func (t *throughput) add(first, last int64, bytes int) {
	t.spans[t.head] = span{first, last, bytes}
	t.head = (t.head + 1) % len(t.spans)
	t.n = min(t.n+1, len(t.spans))
}

// rate is bits per second over the reports that arrived within the window before the
// newest; false until they span enough time to mean something.
func (t *throughput) rate() (int, bool) {
	if t.n == 0 {
		return 0, false
	}
	newest := t.spans[(t.head-1+len(t.spans))%len(t.spans)]
	first, bytes := newest.first, 0
	for i := 0; i < t.n; i++ {
		s := t.spans[(t.head-1-i+2*len(t.spans))%len(t.spans)]
		if newest.last-s.last > throughputWindow {
			break
		}
		first = min(first, s.first)
		bytes += s.bytes
	}
	span := newest.last - first
	if span < 50_000 {
		return 0, false
	}
	return int(float64(bytes) * 8 * 1e6 / float64(span)), true
}
