package sfu

import (
	"testing"
	"time"
)

// probeFor is the probe target for a next layer of rate, beside audio.
func probeFor(rate, audio int) int { return int(probeMargin * float64(rate+audio)) }

func TestChooseLayer(t *testing.T) {
	rates := []int{150_000, 500_000, 1_200_000}
	t0 := time.Unix(1000, 0)
	cases := []struct {
		name     string
		in       allocInput
		st       allocState
		now      time.Time
		want     int
		wantBack time.Duration // backoff after, when checked
		probe    int           // the probe asked for (0: none)
	}{
		{name: "plenty: stays on top", in: allocInput{estimate: 3_000_000, audio: 64_000, rates: rates, max: 9, cur: 2}, want: 2},
		{name: "falls: down at once to what fits", in: allocInput{estimate: 450_000, audio: 64_000, rates: rates, max: 9, cur: 2, congested: true}, want: 0},
		{name: "falls a little: one down", in: allocInput{estimate: 1_100_000, audio: 64_000, rates: rates, max: 9, cur: 2, congested: true}, want: 1},
		{name: "estimate trailing a step up, no congestion: hold", in: allocInput{estimate: 200_000, audio: 64_000, rates: rates, max: 9, cur: 1}, want: 1},
		{name: "estimate falling since the last look is congestion", in: allocInput{estimate: 450_000, audio: 64_000, rates: rates, max: 9, cur: 2},
			st: allocState{lastEstimate: 1_500_000}, want: 0},
		{name: "starved: audio only", in: allocInput{estimate: 100_000, audio: 64_000, rates: rates, max: 9, cur: 0, congested: true}, want: -1},
		{name: "tight but not starved: lowest", in: allocInput{estimate: 200_000, audio: 64_000, rates: rates, max: 9, cur: 1, congested: true}, want: 0},
		{name: "room again: one step up, not two", in: allocInput{estimate: 3_000_000, audio: 64_000, rates: rates, max: 9, cur: 0},
			st: allocState{lastDown: t0.Add(-5 * time.Second), backoff: time.Second}, now: t0, want: 1},
		{name: "room again, but within backoff: hold", in: allocInput{estimate: 3_000_000, audio: 64_000, rates: rates, max: 9, cur: 0},
			st: allocState{lastDown: t0.Add(-500 * time.Millisecond), backoff: time.Second}, now: t0, want: 0},
		{name: "estimate capped near delivery: probe up", in: allocInput{estimate: 320_000, audio: 64_000, rates: rates, max: 9, cur: 0},
			st: allocState{lastDown: t0.Add(-10 * time.Second), lastUp: t0.Add(-10 * time.Second), backoff: time.Second}, now: t0, want: 1},
		{name: "estimate at delivery: no probe", in: allocInput{estimate: 230_000, audio: 64_000, rates: rates, max: 9, cur: 0},
			st: allocState{lastDown: t0.Add(-10 * time.Second), backoff: time.Second}, now: t0, want: 0},
		{name: "audio only recovers to lowest by probing", in: allocInput{estimate: 100_000, audio: 64_000, rates: rates, max: 9, cur: -1},
			st: allocState{lastDown: t0.Add(-10 * time.Second), backoff: time.Second}, now: t0, want: 0},
		{name: "pinned to low", in: allocInput{estimate: 3_000_000, audio: 64_000, rates: rates, max: 0, cur: 2}, want: 0},
		{name: "pinned layer respected by probing", in: allocInput{estimate: 3_000_000, audio: 64_000, rates: rates, max: 1, cur: 1},
			st: allocState{lastDown: t0.Add(-time.Minute), backoff: time.Second}, now: t0, want: 1},
		{name: "top layer not flowing: skipped", in: allocInput{estimate: 3_000_000, audio: 64_000, rates: []int{150_000, 500_000, 0}, max: 9, cur: 1}, want: 1},
		{name: "current layer stopped: best that fits", in: allocInput{estimate: 3_000_000, audio: 64_000, rates: []int{150_000, 500_000, 0}, max: 9, cur: 2}, want: 1},
		{name: "nothing measured yet: keep", in: allocInput{estimate: 100_000, audio: 0, rates: []int{0, 0, 0}, max: 9, cur: 2}, want: 2},
		{name: "a failed try up doubles the backoff", in: allocInput{estimate: 450_000, audio: 64_000, rates: rates, max: 9, cur: 1, congested: true},
			st: allocState{lastUp: t0.Add(-time.Second), backoff: 2 * time.Second}, now: t0, want: 0, wantBack: 4 * time.Second},
		{name: "backoff has a ceiling", in: allocInput{estimate: 450_000, audio: 64_000, rates: rates, max: 9, cur: 1, congested: true},
			st: allocState{lastUp: t0.Add(-time.Second), backoff: maxBackoff}, now: t0, want: 0, wantBack: maxBackoff},
		{name: "an up held long forgives", in: allocInput{estimate: 700_000, audio: 64_000, rates: rates, max: 9, cur: 1},
			st: allocState{lastUp: t0.Add(-11 * time.Second), lastDown: t0.Add(-20 * time.Second), backoff: maxBackoff}, now: t0, want: 1, wantBack: minBackoff},

		// A viewer with an RTX stream is probed with padding, never by switching: it goes
		// up only on a probe's verdict that its link carried the next layer.
		{name: "paddable: probe with padding for the next layer, picture unchanged", in: allocInput{estimate: 320_000, audio: 64_000, rates: rates, max: 9, cur: 0, canPad: true},
			st: allocState{lastDown: t0.Add(-10 * time.Second), lastUp: t0.Add(-10 * time.Second), backoff: time.Second}, now: t0, want: 0,
			probe: probeFor(500_000, 64_000)},
		{name: "paddable: a high estimate alone (the initial guess) is no reason to go up: probe", in: allocInput{estimate: 2_500_000, audio: 64_000, rates: rates, max: 9, cur: 0, canPad: true},
			now: t0, want: 0, probe: probeFor(500_000, 64_000)},
		{name: "probe carried: up one layer", in: allocInput{estimate: 700_000, audio: 64_000, rates: rates, max: 9, cur: 0, canPad: true, verdict: probeCarried},
			st: allocState{lastDown: t0.Add(-10 * time.Second), lastProbe: t0.Add(-time.Second), backoff: time.Second}, now: t0, want: 1, wantBack: time.Second},
		{name: "probe carried after failures: up, and the backoff starts over", in: allocInput{estimate: 700_000, audio: 64_000, rates: rates, max: 9, cur: 0, canPad: true, verdict: probeCarried},
			st: allocState{lastDown: t0.Add(-20 * time.Second), lastProbe: t0.Add(-time.Second), backoff: maxProbeBackoff}, now: t0, want: 1, wantBack: minBackoff},
		{name: "probe carried soon after a step up fell back: up, the backoff kept", in: allocInput{estimate: 700_000, audio: 64_000, rates: rates, max: 9, cur: 0, canPad: true, verdict: probeCarried},
			st: allocState{lastDown: t0.Add(-5 * time.Second), upFell: t0.Add(-5 * time.Second), lastProbe: t0.Add(-time.Second), backoff: 4 * time.Second}, now: t0, want: 1, wantBack: 4 * time.Second},
		{name: "probe carried, estimate fell meanwhile: up all the same, the link carried it", in: allocInput{estimate: 300_000, audio: 64_000, rates: rates, max: 9, cur: 0, canPad: true, verdict: probeCarried},
			st: allocState{lastProbe: t0.Add(-time.Second), backoff: time.Second}, now: t0, want: 1},
		{name: "probe failed: no switch, the next probe waits twice as long", in: allocInput{estimate: 320_000, audio: 64_000, rates: rates, max: 9, cur: 0, canPad: true, verdict: probeCongested},
			st: allocState{lastDown: t0.Add(-10 * time.Second), lastProbe: t0.Add(-time.Second), backoff: 2 * time.Second}, now: t0, want: 0, wantBack: 4 * time.Second},
		{name: "while a train's verdict is pending: hold", in: allocInput{estimate: 400_000, audio: 64_000, rates: rates, max: 9, cur: 1, canPad: true, probing: true, congested: true},
			st: allocState{lastDown: t0.Add(-10 * time.Second), lastProbe: t0.Add(-300 * time.Millisecond), backoff: time.Second}, now: t0, want: 1, wantBack: time.Second},
		{name: "congestion after a probe is the link's: down", in: allocInput{estimate: 400_000, audio: 64_000, rates: rates, max: 9, cur: 1, canPad: true, congested: true},
			st: allocState{lastDown: t0.Add(-10 * time.Second), lastProbe: t0.Add(-time.Second), backoff: time.Second}, now: t0, want: 0},
		{name: "probe backoff has a ceiling", in: allocInput{estimate: 320_000, audio: 64_000, rates: rates, max: 9, cur: 0, canPad: true, verdict: probeCongested},
			st: allocState{lastDown: t0.Add(-20 * time.Second), lastProbe: t0.Add(-time.Second), backoff: maxProbeBackoff}, now: t0, want: 0, wantBack: maxProbeBackoff},
		{name: "a probe runs: no second one", in: allocInput{estimate: 320_000, audio: 64_000, rates: rates, max: 9, cur: 0, canPad: true, probing: true},
			st: allocState{lastDown: t0.Add(-10 * time.Second), lastProbe: t0.Add(-10 * time.Second), backoff: time.Second}, now: t0, want: 0},
		{name: "within the backoff of the last probe: none", in: allocInput{estimate: 320_000, audio: 64_000, rates: rates, max: 9, cur: 0, canPad: true},
			st: allocState{lastDown: t0.Add(-10 * time.Second), lastProbe: t0.Add(-500 * time.Millisecond), backoff: time.Second}, now: t0, want: 0},
		{name: "on top: nothing to probe for", in: allocInput{estimate: 3_000_000, audio: 64_000, rates: rates, max: 9, cur: 2, canPad: true},
			st: allocState{lastDown: t0.Add(-time.Minute), backoff: time.Second}, now: t0, want: 2},
		{name: "audio only (starved), paddable: back to the lowest on the estimate", in: allocInput{estimate: 300_000, audio: 64_000, rates: rates, max: 9, cur: -1, canPad: true},
			st: allocState{lastDown: t0.Add(-10 * time.Second), backoff: time.Second}, now: t0, want: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := c.st
			now := c.now
			if now.IsZero() {
				now = t0
			}
			got := chooseLayer(c.in, &st, now)
			if got.layer != c.want || got.probe != c.probe {
				t.Fatalf("chooseLayer = layer %d, probe %d; want layer %d, probe %d", got.layer, got.probe, c.want, c.probe)
			}
			if c.wantBack != 0 && st.backoff != c.wantBack {
				t.Errorf("backoff %v, want %v", st.backoff, c.wantBack)
			}
		})
	}
}
