package sfu

import "time"

// Which simulcast layer a viewer gets is decided here, from numbers to a number, and done
// elsewhere (downTrack.switchTo): the decision is table-tested without a network.
//
// The estimate is internal/bwe's, from the viewer's transport-wide feedback. Like any
// GCC, it never grows past 1.5 times what it sees delivered, so a viewer on a low layer
// cannot show, by the estimate alone, that it could take a higher one. The allocator
// probes by switching: while the estimate sits well above what the viewer receives,
// nothing is congested, so it tries one layer up; if the link carries it, the estimate
// takes the delivered rate at once; if it congests the link, the estimate falls, the
// viewer goes back down, and the next try waits twice as long.
//
// Going down needs congestion, not just a low estimate: after a step up, GCC's estimate
// can trail what the viewer now receives while it grows (8% a second), and taking that
// for a verdict would bounce the viewer straight back. Congestion is the delay trend
// overusing, real loss, or the estimate falling since the last look.

// allocInput is what one viewer's choice depends on.
type allocInput struct {
	estimate int   // the viewer's bandwidth estimate, bits per second
	audio    int   // what the viewer's audio takes, bits per second
	rates    []int // each layer's bitrate, low to high quality; 0: the layer is not flowing
	max      int   // the highest layer the viewer allows (-1: audio only, the node is shedding)
	cur      int   // the layer now (-1: video paused, audio only)
	// congested says the estimator saw congestion: a delay trend overusing, or loss.
	congested bool
}

// allocState is what the allocator remembers of one viewer between decisions.
type allocState struct {
	lastDown, lastUp time.Time
	backoff          time.Duration // before the next try upwards after a fall
	lastEstimate     int
}

const (
	headroom        = 0.9  // a layer fits when it takes at most this share of the budget
	starved         = 0.6  // below this share of the lowest layer's rate, video pauses
	probeRatio      = 1.35 // estimate over delivered rate that says the link has room
	minBackoff      = time.Second
	maxBackoff      = 8 * time.Second
	upHeldToForgive = 10 * time.Second // an up-switch held this long resets the backoff
	congestedLoss   = 0.05             // a loss rate that is congestion, not noise
	estimateFall    = 0.92             // an estimate below this share of the last one has fallen
)

// chooseLayer returns the layer the viewer should get now (-1: audio only) and updates
// st. It moves down at once, up one layer at a time and only after the backoff.
func chooseLayer(in allocInput, st *allocState, now time.Time) int {
	if st.backoff == 0 {
		st.backoff = minBackoff
	}
	if in.max < 0 {
		return -1
	}
	falling := st.lastEstimate > 0 && float64(in.estimate) < estimateFall*float64(st.lastEstimate)
	st.lastEstimate = in.estimate
	congested := in.congested || falling
	budget := float64(in.estimate - in.audio)
	lowest, fit := -1, -1
	for i := 0; i <= in.max && i < len(in.rates); i++ {
		if in.rates[i] <= 0 {
			continue
		}
		if lowest < 0 {
			lowest = i
		}
		if float64(in.rates[i]) <= headroom*budget {
			fit = i
		}
	}
	if lowest < 0 {
		// Nothing is flowing (yet): keep what the viewer has.
		return in.cur
	}
	if fit < 0 && budget >= starved*float64(in.rates[lowest]) {
		fit = lowest // tight, but better than no picture
	}
	cur := in.cur
	if cur > in.max {
		return down(fit, st, now, false)
	}
	if cur >= 0 && cur < len(in.rates) && in.rates[cur] <= 0 {
		// The current layer stopped (the publisher paused it): the best that fits now.
		return fit
	}
	switch {
	case fit < cur && congested:
		return down(fit, st, now, true)
	case fit < cur:
		return cur // the estimate is catching up with a step up, not falling
	case fit > cur:
		if now.Sub(st.lastDown) < st.backoff {
			return cur
		}
		return up(cur, in, st, now)
	}
	if !st.lastUp.IsZero() && now.Sub(st.lastUp) >= upHeldToForgive && st.lastUp.After(st.lastDown) {
		st.backoff = minBackoff
	}
	// Probe: the estimate says the link has room beyond what the viewer receives.
	delivered := float64(in.audio)
	if cur >= 0 {
		delivered += float64(in.rates[cur])
	}
	if next := nextLayer(cur, in); next > cur && float64(in.estimate) >= probeRatio*delivered &&
		now.Sub(st.lastDown) >= st.backoff && now.Sub(st.lastUp) >= st.backoff {
		return up(cur, in, st, now)
	}
	return cur
}

func down(to int, st *allocState, now time.Time, congested bool) int {
	if congested {
		if now.Sub(st.lastUp) < upHeldToForgive {
			st.backoff = min(st.backoff*2, maxBackoff) // the last try up did not hold
		}
		st.lastDown = now
	}
	return to
}

func up(cur int, in allocInput, st *allocState, now time.Time) int {
	st.lastUp = now
	return nextLayer(cur, in)
}

// nextLayer is the flowing layer above cur within the viewer's maximum, or cur.
func nextLayer(cur int, in allocInput) int {
	for i := cur + 1; i <= in.max && i < len(in.rates); i++ {
		if in.rates[i] > 0 {
			return i
		}
	}
	return cur
}
