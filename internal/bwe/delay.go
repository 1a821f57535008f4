package bwe

import "math"

// The delay-based half: packets are grouped by when they were sent (a frame's packets
// leave together), and the change in one-way delay between consecutive groups is
// accumulated. A queue building at the bottleneck shows as a rising trend of that
// delay, found by a least-squares fit over the last groups, long before packets are
// lost. The constants are libwebrtc's (TrendlineEstimator, InterArrival), which are the
// ones browsers' own senders have been tuned with.

const (
	groupSpan     = 5_000   // µs: packets sent within this of a group's first belong to it
	burstArrival  = 5_000   // µs: a packet arriving this soon after its group, and early, joins it
	maxBurst      = 100_000 // µs: a burst group spans at most this
	trendWindow   = 20      // groups in the fit
	trendSmooth   = 0.9     // of the accumulated delay
	trendGain     = 4.0     // the trend's scale against the threshold
	maxDeltaCount = 60      // the trend's weight grows with the groups seen, up to this
	overuseTime   = 10.0    // ms the trend must stay over the threshold
	thresholdInit = 12.5
	thresholdUp   = 0.0087
	thresholdDown = 0.039
	thresholdMin  = 6.0
	thresholdMax  = 600.0
)

// usage is what the delay trend says of the link.
type usage int

const (
	normal usage = iota
	overusing
	underusing
)

// groupDelta is the difference between two consecutive groups.
type groupDelta struct {
	send, arrival float64 // ms between the groups' last packets
	at            float64 // ms, the later group's last arrival
}

type group struct {
	firstSend, lastSend, firstArrival, lastArrival int64
	size                                           int
}

// interArrival groups acknowledged packets and yields the delta between each group and
// the one before once the group is complete.
type interArrival struct {
	cur, prev   group
	hasCur      bool
	hasPrev     bool
	arrivalBase int64
}

func (g *interArrival) add(send, arrival int64, size int) (groupDelta, bool) {
	if !g.hasCur {
		g.cur = group{send, send, arrival, arrival, size}
		g.hasCur, g.arrivalBase = true, arrival
		return groupDelta{}, false
	}
	if send < g.cur.firstSend {
		return groupDelta{}, false // reordered behind its group: no information
	}
	if send-g.cur.firstSend <= groupSpan || g.burst(send, arrival) {
		g.cur.lastSend = max(g.cur.lastSend, send)
		g.cur.lastArrival = max(g.cur.lastArrival, arrival)
		g.cur.size += size
		return groupDelta{}, false
	}
	var d groupDelta
	ok := false
	if g.hasPrev {
		d = groupDelta{
			send:    float64(g.cur.lastSend-g.prev.lastSend) / 1000,
			arrival: float64(g.cur.lastArrival-g.prev.lastArrival) / 1000,
			at:      float64(g.cur.lastArrival-g.arrivalBase) / 1000,
		}
		ok = d.arrival >= 0 // an arrival clock that stepped back says nothing
	}
	g.prev, g.hasPrev = g.cur, true
	g.cur = group{send, send, arrival, arrival, size}
	return d, ok
}

// burst says a packet that was sent later than its group's span still belongs to it:
// it arrived right behind the group and earlier than its send time predicts, as packets
// released together from a queue do.
func (g *interArrival) burst(send, arrival int64) bool {
	arrivalDelta := arrival - g.cur.lastArrival
	sendDelta := send - g.cur.lastSend
	return arrivalDelta-sendDelta < 0 && arrivalDelta <= burstArrival &&
		arrival-g.cur.firstArrival < maxBurst
}

// trendline turns group deltas into a usage signal.
type trendline struct {
	deltas      int
	accumulated float64
	smoothed    float64
	window      [trendWindow]struct{ x, y float64 }
	n, head     int
	trend       float64
	prevTrend   float64
	threshold   float64
	lastUpdate  float64
	overTime    float64
	overCount   int
	state       usage
}

func (t *trendline) init() {
	t.threshold = thresholdInit
	t.overTime = -1
	t.lastUpdate = math.NaN()
}

func (t *trendline) update(d groupDelta) {
	t.deltas = min(t.deltas+1, 1000)
	t.accumulated += d.arrival - d.send
	t.smoothed = trendSmooth*t.smoothed + (1-trendSmooth)*t.accumulated
	t.window[t.head] = struct{ x, y float64 }{d.at, t.smoothed}
	t.head = (t.head + 1) % trendWindow
	if t.n < trendWindow {
		t.n++
	}
	if t.n == trendWindow {
		if s, ok := t.slope(); ok {
			t.trend = s
		}
	}
	t.detect(d.send, d.at)
}

// slope is the least-squares slope of the smoothed delay over arrival time.
func (t *trendline) slope() (float64, bool) {
	var sx, sy float64
	for _, p := range t.window[:t.n] {
		sx += p.x
		sy += p.y
	}
	mx, my := sx/float64(t.n), sy/float64(t.n)
	var num, den float64
	for _, p := range t.window[:t.n] {
		num += (p.x - mx) * (p.y - my)
		den += (p.x - mx) * (p.x - mx)
	}
	if den == 0 {
		return 0, false
	}
	return num / den, true
}

func (t *trendline) detect(sendDelta, now float64) {
	if t.deltas < 2 {
		t.state = normal
		return
	}
	modified := float64(min(t.deltas, maxDeltaCount)) * t.trend * trendGain
	switch {
	case modified > t.threshold:
		if t.overTime < 0 {
			t.overTime = sendDelta / 2 // assume half the last interval was overusing
		} else {
			t.overTime += sendDelta
		}
		t.overCount++
		if t.overTime > overuseTime && t.overCount > 1 && t.trend >= t.prevTrend {
			t.overTime, t.overCount = 0, 0
			t.state = overusing
		}
	case modified < -t.threshold:
		t.overTime, t.overCount = -1, 0
		t.state = underusing
	default:
		t.overTime, t.overCount = -1, 0
		t.state = normal
	}
	t.prevTrend = t.trend
	t.adapt(modified, now)
}

// adapt moves the threshold towards the trend: slowly up, faster down, so that the
// detector neither starves against a concurrent TCP flow nor fires on jitter.
func (t *trendline) adapt(modified, now float64) {
	if math.IsNaN(t.lastUpdate) {
		t.lastUpdate = now
	}
	a := math.Abs(modified)
	if a > t.threshold+15 {
		t.lastUpdate = now // a spike: do not let it drag the threshold
		return
	}
	k := thresholdUp
	if a < t.threshold {
		k = thresholdDown
	}
	dt := min(max(now-t.lastUpdate, 0), 100)
	t.threshold = min(max(t.threshold+k*(a-t.threshold)*dt, thresholdMin), thresholdMax)
	t.lastUpdate = now
}
