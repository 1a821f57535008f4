package sfu

import "time"

// Which simulcast layer a viewer gets is decided here, from numbers to a number, and done
// elsewhere (downTrack.switchTo): the decision is table-tested without a network.
//
// The estimate is internal/bwe's, from the viewer's transport-wide feedback. Like any
// GCC, it never grows past 1.5 times what it sees delivered, so a viewer on a low layer
// cannot show, by the estimate alone, that it could take a higher one. The allocator
// probes with padding, not with the picture (as libwebrtc and LiveKit do): it asks for
// a probe (probe.go), a short train of RTX padding whose arrival spacing says what the
// link delivers; at the next layer's rate or more, the viewer moves up; short of it,
// the picture never went there, and the next probe waits twice as long. A viewer that
// cannot be padded (no RTX stream) is still probed by switching up, the old way.
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
	// canPad says the viewer can be probed with padding; probing that a probe runs now.
	canPad, probing bool
	// verdict is the last probe's outcome, given once (probeCarried, probeFailed).
	verdict int32
}

// A probe's verdict.
const (
	probeNone    = iota
	probeCarried // the link delivered the probe's target
	probeCongested
)

// allocState is what the allocator remembers of one viewer between decisions.
type allocState struct {
	lastDown, lastUp time.Time
	backoff          time.Duration // before the next try upwards after a fall
	lastEstimate     int
	lastProbe        time.Time // when the last probe was asked for
	lastFailedProbe  time.Time // when the last probe's verdict said the link did not carry it
	upFell           time.Time // when a step up last fell back before it held
}

const (
	headroom   = 0.9  // a layer fits when it takes at most this share of the budget
	starved    = 0.6  // below this share of the lowest layer's rate, video pauses
	probeRatio = 1.35 // estimate over delivered rate that says the link has room
	minBackoff = time.Second
	maxBackoff = 8 * time.Second
	// maxProbeBackoff bounds the wait between padding probes that keep failing: each
	// fills the viewer's queue for a moment, which a link that never fits pays for.
	maxProbeBackoff = 16 * time.Second
	// probeMargin is how far past the next layer's need (its rate and the audio) a
	// probe's train must be carried for the layer to be taken.
	probeMargin = 1.15
	// probeSettle is how long after a failed probe the media's delay is taken for the
	// train's queue draining.
	probeSettle     = time.Second
	upHeldToForgive = 10 * time.Second // an up-switch held this long resets the backoff
	congestedLoss   = 0.05             // a loss rate that is congestion, not noise
	estimateFall    = 0.92             // an estimate below this share of the last one has fallen
)

// decision is chooseLayer's answer: the layer, and a probe to run at probe bits per
// second (0: none).
type decision struct {
	layer, probe int
}

// chooseLayer returns the layer the viewer should get now (-1: audio only), and a probe
// to run, and updates st. It moves down at once, up one layer at a time and only after
// the backoff.
func chooseLayer(in allocInput, st *allocState, now time.Time) decision {
	if st.backoff == 0 {
		st.backoff = minBackoff
	}
	if in.max < 0 {
		return decision{layer: -1}
	}
	layer, probe := choose(in, st, now)
	return decision{layer: layer, probe: probe}
}

func choose(in allocInput, st *allocState, now time.Time) (layer, probe int) {
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
		return in.cur, 0
	}
	if fit < 0 && budget >= starved*float64(in.rates[lowest]) {
		fit = lowest // tight, but better than no picture
	}
	cur := in.cur
	if cur > in.max {
		return down(fit, st, now, false), 0
	}
	if cur >= 0 && cur < len(in.rates) && in.rates[cur] <= 0 {
		// The current layer stopped (the publisher paused it): the best that fits now.
		return fit, 0
	}
	if in.canPad && cur >= 0 {
		if layer, decided := probed(in, st, now, congested); decided {
			return layer, 0
		}
		fit = min(fit, cur) // never up on the estimate alone: a probe decides
	}
	switch {
	case fit < cur && congested:
		return down(fit, st, now, true), 0
	case fit < cur:
		return cur, 0 // the estimate is catching up with a step up, not falling
	case fit > cur:
		if now.Sub(st.lastDown) < st.backoff {
			return cur, 0
		}
		return up(cur, in, st, now), 0
	}
	if !st.lastUp.IsZero() && now.Sub(st.lastUp) >= upHeldToForgive && st.lastUp.After(st.lastDown) {
		st.backoff = minBackoff
	}
	return nextStep(in, st, now, congested)
}

// probed is a paddable viewer's decision from its probes: up on a probe's verdict
// that the link carried the next layer, never on the estimate alone, which may be a
// guess (its initial value) or 1.5 times what was delivered. A probe's train is
// measured apart from the media (internal/bwe leaves it out of the delay trend and the
// loss); only just after a failed one is the media's delay the train's doing.
// decided is false when the ordinary rules decide.
func probed(in allocInput, st *allocState, now time.Time, congested bool) (layer int, decided bool) {
	switch {
	case in.verdict == probeCarried && !in.probing:
		// The link has room now: the failed probes the backoff counted are over, and
		// the next layer's probe need not wait for them (a link that recovers climbs a
		// layer a probe, not a layer a backoff ceiling). Not when a step up fell back
		// lately: a link that carries a short train but not the layer would bounce.
		if now.Sub(st.upFell) >= upHeldToForgive {
			st.backoff = minBackoff
		}
		return up(in.cur, in, st, now), true
	case in.verdict == probeCongested:
		probeFailed(st, now)
		st.lastFailedProbe = now
		return in.cur, true
	case in.probing, congested && now.Sub(st.lastFailedProbe) < probeSettle:
		return in.cur, true
	}
	return 0, false
}

// nextStep, for a viewer whose layer fits, tries the next layer once the backoffs
// allow: a paddable viewer gets a probe towards it (bits per second), any other is
// switched up when the estimate says there is room, the old way.
func nextStep(in allocInput, st *allocState, now time.Time, congested bool) (layer, probe int) {
	cur := in.cur
	next := nextLayer(cur, in)
	if next <= cur || congested || in.probing ||
		now.Sub(st.lastDown) < st.backoff || now.Sub(st.lastUp) < st.backoff || now.Sub(st.lastProbe) < st.backoff {
		return cur, 0
	}
	if in.canPad && cur >= 0 {
		st.lastProbe = now
		return cur, int(probeMargin * float64(in.rates[next]+in.audio))
	}
	delivered := float64(in.audio)
	if cur >= 0 {
		delivered += float64(in.rates[cur])
	}
	if float64(in.estimate) >= probeRatio*delivered {
		return up(cur, in, st, now), 0
	}
	return cur, 0
}

// probeFailed backs the next probe off: each failure fills the viewer's queue a little.
func probeFailed(st *allocState, now time.Time) {
	if st.lastDown.After(st.lastProbe) {
		return // this probe's failure is counted
	}
	st.backoff = min(st.backoff*2, maxProbeBackoff)
	st.lastDown = now
}

func down(to int, st *allocState, now time.Time, congested bool) int {
	if congested {
		if now.Sub(st.lastUp) < upHeldToForgive {
			st.backoff = min(st.backoff*2, maxBackoff) // the last try up did not hold
			st.upFell = now
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
