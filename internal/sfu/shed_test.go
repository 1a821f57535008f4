package sfu

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestPlanShed(t *testing.T) {
	p := ShedPolicy{Above: 0.95, Target: 0.85}
	v := func(level int, lowerable bool) shedViewer { return shedViewer{level: level, lowerable: lowerable} }
	tests := []struct {
		name string
		busy float64
		in   []shedViewer
		want []int
	}{
		{"room to spare: nothing changes", 0.50, []shedViewer{v(0, true), v(0, true)}, []int{0, 0}},
		{"between the marks: hold", 0.90, []shedViewer{v(2, false), v(0, true)}, []int{2, 0}},
		{"no viewers", 1, nil, []int{}},
		// 10 viewers at 0.1 each: 1.0 → 0.85 takes 1.5 viewers' worth, so two.
		{"saturated: the first two in order step down", 1.0,
			[]shedViewer{v(0, true), v(0, true), v(0, true), v(0, true), v(0, true), v(0, true), v(0, true), v(0, true), v(0, true), v(0, true)},
			[]int{1, 1, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"just over the mark: one", 0.95, []shedViewer{v(0, true), v(0, true), v(0, true)}, []int{1, 0, 0}},
		{"a single-layer viewer goes to audio only", 1.0, []shedViewer{v(0, false), v(0, true), v(0, true), v(0, true)}, []int{2, 0, 0, 0}},
		{"everyone's lowest layer before anyone's audio", 1.0, []shedViewer{v(1, false), v(0, true), v(0, true), v(0, true)}, []int{1, 1, 0, 0}},
		{"then audio only, in order", 1.0, []shedViewer{v(1, false), v(1, false), v(2, false), v(1, false)}, []int{2, 1, 2, 1}},
		{"all audio only: nothing more to shed", 1.0, []shedViewer{v(2, false), v(2, false)}, []int{2, 2}},
		// Four viewers at 0.6: 0.15 each, room for one under 0.85: the most favoured
		// audio-only viewer gets a level back.
		{"room: the last shed gets video back first", 0.6, []shedViewer{v(2, false), v(2, false), v(1, false), v(0, true)}, []int{2, 1, 1, 0}},
		{"no room for one more: hold", 0.8, []shedViewer{v(2, false), v(2, false), v(0, true), v(0, true)}, []int{2, 2, 0, 0}},
		// 20 viewers at 0.2: room for 65 average viewers, but a tenth (2) at a time.
		{"much room: a tenth at once, audio before layers", 0.2,
			[]shedViewer{v(2, false), v(1, false), v(2, false), v(1, false), v(0, true), v(0, true), v(0, true), v(0, true), v(0, true), v(0, true),
				v(0, true), v(0, true), v(0, true), v(0, true), v(0, true), v(0, true), v(0, true), v(0, true), v(0, true), v(0, true)},
			[]int{1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := planShed(tt.busy, tt.in, p); !slices.Equal(got, tt.want) {
				t.Errorf("planShed(%v) = %v, want %v", tt.busy, got, tt.want)
			}
		})
	}
}

// Saturation held long enough sheds everyone to audio only, step by step, and room
// brings everyone back; at every step a viewer earlier in shedding order is shed at
// least as far as every viewer after it.
func TestPlanShedConverges(t *testing.T) {
	p := ShedPolicy{Above: 0.95, Target: 0.85}
	vs := make([]shedViewer, 20)
	for i := range vs {
		vs[i].lowerable = true
	}
	steps := 0
	for ; steps < 100; steps++ {
		levels := planShed(1.0, vs, p)
		if slices.Equal(levels, levelsOf(vs)) {
			break
		}
		if !slices.IsSortedFunc(levels, func(a, b int) int { return b - a }) {
			t.Fatalf("shedding, step %d: levels %v out of order", steps, levels)
		}
		for i := range vs {
			if levels[i] < vs[i].level {
				t.Fatalf("step %d: viewer %d got video back while saturated", steps, i)
			}
			vs[i].level, vs[i].lowerable = levels[i], levels[i] == shedNone
		}
	}
	for i, v := range vs {
		if v.level != shedAudio {
			t.Fatalf("after %d saturated steps viewer %d is at level %d, want audio only", steps, i, v.level)
		}
	}
	for step := range 100 {
		levels := planShed(0.1, vs, p)
		if !slices.IsSortedFunc(levels, func(a, b int) int { return b - a }) {
			t.Fatalf("restoring, step %d: levels %v: a viewer shed later has less video than one shed earlier", step, levels)
		}
		for i := range vs {
			vs[i].level = levels[i]
		}
	}
	if got := levelsOf(vs); slices.Max(got) != shedNone {
		t.Errorf("after 100 steps with room, levels %v, want all full video", got)
	}
}

func levelsOf(vs []shedViewer) []int {
	out := make([]int, len(vs))
	for i, v := range vs {
		out[i] = v.level
	}
	return out
}

func TestShedOrder(t *testing.T) {
	t0 := time.Now()
	sub := func(id string, paid, relay bool, joined int) *Subscriber {
		s := &Subscriber{paid: paid, relay: relay, joinStart: t0.Add(time.Duration(joined) * time.Second)}
		s.id = id
		return s
	}
	subs := []*Subscriber{
		sub("paid-early", true, false, 0),
		sub("free-early", false, false, 1),
		sub("relay", false, true, 2),
		sub("paid-late", true, false, 3),
		sub("free-late", false, false, 4),
	}
	var got []string
	for _, s := range shedOrder(subs) {
		got = append(got, s.id)
	}
	want := []string{"free-late", "free-early", "paid-late", "paid-early"}
	if !slices.Equal(got, want) {
		t.Errorf("shedding order %v, want %v (free before paid, latest first, relays never)", got, want)
	}
}

func TestChooseLayerAudioOnlyWhenShed(t *testing.T) {
	st := &allocState{}
	in := allocInput{estimate: 5_000_000, rates: []int{150_000, 500_000, 1_500_000}, max: -1, cur: 2}
	if got := chooseLayer(in, st, time.Now()).layer; got != -1 {
		t.Errorf("a viewer shed to audio only gets layer %d, want -1", got)
	}
}

func TestShedActsOnAWindowOfSamples(t *testing.T) {
	p := ShedPolicy{Above: 0.95, Target: 0.85}
	for _, tt := range []struct {
		window []float64
		want   float64
		act    bool
	}{
		{[]float64{0.99, 0.99}, 0, false},       // not a full window yet
		{[]float64{0.85, 0.99, 0.96}, 0, false}, // a node near its mark, read noisily
		{[]float64{0.97, 1, 0.97}, 0.98, true},
		{[]float64{1, 1, 0.8}, 0, false},      // a burst: it dipped under the target  // saturated throughout: shed
		{[]float64{0.7, 0.6, 0.8}, 0.7, true}, // under the target: maybe room
		{[]float64{1, 0.8, 0.9}, 0, false},    // between the marks
	} {
		got, act := confirmed(tt.window, p)
		if act != tt.act || (act && math.Abs(got-tt.want) > 1e-9) {
			t.Errorf("confirmed(%v) = %v, %v; want %v, %v", tt.window, got, act, tt.want, tt.act)
		}
	}
}
