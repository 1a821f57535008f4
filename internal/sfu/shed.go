package sfu

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/pion/webrtc/v4"
)

// Shedding keeps a saturated node fair. Past its CPU, a node that forwards everything
// loses packets for every viewer at once: the publisher's packets queue behind the
// fan-out and overflow. Instead, when the node's CPU crosses a mark, some viewers give
// up part of their video, in an order known in advance: first down to the lowest
// simulcast layer, then to audio only; free viewers before paying ones, and among each,
// the latest to join first (those watching longest keep their picture, as admission
// keeps it for them). When the CPU has room again, the viewers shed last get their video
// back first. Admission refuses new viewers while anyone is shed (Shedding).
//
// As in the allocator, the decision is numbers to numbers (planShed), table-tested; the
// SFU applies it as a cap on each viewer's layer, which the room's allocator (the one
// goroutine that moves its viewers' layers) honours at its next tick.

// Shed levels of a viewer, the cap on its video.
const (
	shedNone   = 0
	shedLowest = 1 // the lowest simulcast layer
	shedAudio  = 2 // audio only
)

// ShedPolicy says when the node sheds. Shares are of the node's usable CPUs, 0 to 1.
type ShedPolicy struct {
	Above  float64 // a load at or above this sheds
	Target float64 // what a shedding step aims the load at; below it, video comes back
}

// shedViewer is one viewer as planShed sees it.
type shedViewer struct {
	level     int
	lowerable bool // its video is above the lowest layer, so shedLowest saves something
}

// planShed returns the viewers' new levels for a CPU reading busy, vs in shedding order
// (the first is shed first).
//
// Past Above, it sheds enough viewers by one level each to bring the load to Target,
// each viewer with full video taken to cost busy over their number (at least one): the
// shed ones cost less, so this errs towards shedding more. Below Target, it gives back a
// level to as many viewers, most favoured first, as the room under Target carries at the
// average viewer's cost, and no more than a tenth of them at once (the shed ones cost
// more than the average when they get video back); with no room for one, it holds.
func planShed(busy float64, vs []shedViewer, p ShedPolicy) []int {
	levels := make([]int, len(vs))
	full := 0
	for i, v := range vs {
		levels[i] = v.level
		if v.level == shedNone {
			full++
		}
	}
	if len(vs) == 0 || busy <= 0 {
		return levels
	}
	switch {
	case busy >= p.Above:
		perViewer := busy / float64(max(full, 1))
		n := max(1, int(math.Ceil((busy-p.Target)/perViewer-1e-9)))
		// First everyone's lowest layer, in order; then audio only, in order.
		for i := range vs {
			if n > 0 && vs[i].level == shedNone {
				levels[i] = shedLowest
				if !vs[i].lowerable {
					levels[i] = shedAudio
				}
				n--
			}
		}
		for i := range vs {
			if n > 0 && vs[i].level == shedLowest {
				levels[i] = shedAudio
				n--
			}
		}
	case busy < p.Target:
		perViewer := busy / float64(len(vs))
		n := min(int((p.Target-busy)/perViewer), (len(vs)+9)/10)
		// The reverse of shedding: audio-only viewers get a picture back (most favoured
		// first) before anyone's layer cap lifts.
		for _, from := range []int{shedAudio, shedLowest} {
			for i := len(vs) - 1; i >= 0 && n > 0; i-- {
				if vs[i].level == from {
					levels[i]--
					n--
				}
			}
		}
	}
	return levels
}

// shedOrder sorts viewers into shedding order: free before paid, then the latest to join
// first. Relays to other nodes are never shed (each serves a node's viewers).
func shedOrder(subs []*Subscriber) []*Subscriber {
	out := slices.DeleteFunc(slices.Clone(subs), func(s *Subscriber) bool { return s.relay })
	slices.SortStableFunc(out, func(a, b *Subscriber) int {
		if a.paid != b.paid {
			if a.paid {
				return 1
			}
			return -1
		}
		return b.joinStart.Compare(a.joinStart)
	})
	return out
}

// CPUGauge is the node's CPU, as shedding reads it (admission.Capacity): the share of its
// usable CPUs taken over the last sample.
type CPUGauge interface {
	CPUNow() float64
}

// shedEvery is how often shedding looks: the node's CPU gauge is sampled about as often.
const shedEvery = 500 * time.Millisecond

// Shed runs the node's shedding under p, reading cpu, until ctx ends. It is the node's
// to run; without it no viewer is ever shed.
func (s *SFU) Shed(ctx context.Context, cpu CPUGauge, p ShedPolicy) {
	t := time.NewTicker(shedEvery)
	defer t.Stop()
	var window []float64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			window = append(window, cpu.CPUNow())
			if len(window) > shedWindow {
				window = window[1:]
			}
			// With room and nobody shed there is nothing to give back: no pass over the
			// viewers.
			if busy, act := confirmed(window, p); act && (busy >= p.Above || s.Shedding()) {
				s.shedStep(busy, p)
				// The next step waits for a window of samples taken after this one: a
				// sample straddling a step still shows the load before it.
				window = window[:0]
			}
		}
	}
}

// shedWindow is how many samples (of shedEvery) a shedding decision averages.
const shedWindow = 3

// confirmed says whether a full window of samples says, on average, that the node must
// shed or may have room to give video back, and with what reading. Half a second of a node near its
// marks reads 10% either side now and then (a GC, a burst of handshakes, a CPU quota's
// period, the clock ticks CPU time is counted in): alone, such a sample would take
// video from viewers only to give it back. A saturated node reads saturated throughout.
func confirmed(window []float64, p ShedPolicy) (float64, bool) {
	if len(window) < shedWindow {
		return 0, false
	}
	sum := 0.0
	for _, v := range window {
		sum += v
	}
	mean := sum / float64(len(window))
	// Shedding needs the load held: a window that averages past the mark but dipped
	// under the target on the way is a burst, not a node that cannot keep up.
	return mean, (mean >= p.Above && slices.Min(window) >= p.Target) || mean < p.Target
}

func (s *SFU) shedStep(busy float64, p ShedPolicy) {
	var subs []*Subscriber
	for _, r := range s.List() {
		r.mu.Lock()
		for sub := range r.subs {
			subs = append(subs, sub)
		}
		r.mu.Unlock()
	}
	subs = shedOrder(subs)
	vs := make([]shedViewer, len(subs))
	for i, sub := range subs {
		vs[i] = shedViewer{level: int(sub.shed.Load()), lowerable: sub.aboveLowest()}
	}
	levels := planShed(busy, vs, p)
	shed := 0
	for i, sub := range subs {
		if levels[i] != vs[i].level {
			sub.shed.Store(int32(levels[i]))
			sub.room.log.Info("viewer shed level", "viewer", sub.ID(), "from", vs[i].level, "to", levels[i], "cpu", math.Round(busy*100)/100)
			if levels[i] > vs[i].level {
				s.metrics.Shed.Inc()
			}
		}
		if levels[i] > shedNone {
			shed++
		}
	}
	s.shedding.Store(int64(shed))
	s.metrics.ViewersShed.Set(float64(shed))
}

// Shedding reports whether any viewer gives up video to the node's load now: admission
// refuses new viewers meanwhile.
func (s *SFU) Shedding() bool { return s.shedding.Load() > 0 }

// aboveLowest says whether the viewer's video is above its lowest flowing layer.
func (s *Subscriber) aboveLowest() bool {
	for _, d := range s.downs {
		if d.kind != webrtc.RTPCodecTypeVideo {
			continue
		}
		in := s.room.allocInput(s, d)
		if lowest := lowestFlowing(in.rates); lowest >= 0 && in.cur > lowest {
			return true
		}
	}
	return false
}

// lowestFlowing is the lowest layer with media, or -1.
func lowestFlowing(rates []int) int {
	return slices.IndexFunc(rates, func(r int) bool { return r > 0 })
}
