// Package bwe estimates a viewer's bandwidth on the sending side, from the viewer's
// transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-
// extensions-01), the way Google congestion control (draft-ietf-rmcat-gcc-02) and
// libwebrtc do: a delay-gradient trend over groups of packets drives an AIMD rate,
// and loss reported in the feedback bounds it.
//
// It exists because the SFU pays for estimation on every packet it forwards, for every
// viewer. Each packet sent costs one slot in a fixed ring, written under a mutex with no
// allocation; the feedback is walked once, in place. pion's GCC, which livegate used
// first, keeps a map entry and a list element per packet and passes every acknowledgment
// through goroutines and channels: 6–9 µs per forwarded packet on our benchmark machine,
// against a budget of 1.5 (docs/BENCHMARKS.md).
package bwe

import (
	"sync"
	"time"
)

// Config bounds an estimator, in bits per second.
type Config struct {
	Initial, Min, Max int
}

// Stats is an estimator's view of its viewer's link.
type Stats struct {
	Bitrate int     // the estimate, bits per second
	Loss    float64 // the share of packets lost in the last feedback window, 0..1
	// Overusing says the delay trend shows a queue building or the rate was cut for it
	// within the last half second: the link is congested now.
	Overusing bool
	RTT       time.Duration
}

// historySize is how many sent packets the estimator remembers: over 4 s of a 5 Mbit/s
// stream, many times the 100 ms between two feedback reports.
const historySize = 1 << 11

type sent struct {
	at      int64 // µs since the estimator's base
	size    int32 // bytes on the wire, RTP header included
	seq     uint16
	valid   bool
	cluster uint8 // the probe cluster it belongs to (probe.go); 0: none
}

// Estimator is one viewer connection's estimate. Its methods are safe for concurrent use.
type Estimator struct {
	mu      sync.Mutex
	base    time.Time
	next    uint16 // the next transport-wide sequence number
	history [historySize]sent

	refInit bool
	ref     int64 // the last feedback's reference time, unwrapped, in 64 ms units

	groups   interArrival
	trend    trendline
	rate     aimd
	loss     lossControl
	acked    throughput
	rtt      int64 // µs, smoothed
	lastOver int64 // µs, when the trend last said overusing or the rate was cut for it

	clusters      [4]cluster // the latest probe clusters (probe.go)
	nextCluster   int
	lastAckedSent int64 // µs: when the newest packet acknowledged received left
}

// New returns an estimator that starts at cfg.Initial.
func New(cfg Config) *Estimator {
	cfg.Min = max(cfg.Min, 10_000)
	if cfg.Max <= 0 {
		cfg.Max = 50_000_000
	}
	cfg.Initial = min(max(cfg.Initial, cfg.Min), cfg.Max)
	e := &Estimator{base: time.Now(), lastOver: -1}
	e.trend.init()
	e.rate.init(cfg)
	e.loss.init(cfg)
	return e
}

func (e *Estimator) micros(t time.Time) int64 { return t.Sub(e.base).Microseconds() }

// Sent numbers a packet of size bytes leaving now and remembers it; the caller writes
// the returned transport-wide sequence number into the packet's header extension.
func (e *Estimator) Sent(size int, now time.Time) uint16 {
	at := e.micros(now)
	e.mu.Lock()
	seq := e.next
	e.next++
	e.history[seq%historySize] = sent{at: at, size: int32(size), seq: seq, valid: true}
	e.mu.Unlock()
	return seq
}

// Stats returns the current estimate.
func (e *Estimator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.micros(time.Now())
	return Stats{
		Bitrate:   e.bitrate(),
		Loss:      e.loss.fraction,
		Overusing: e.lastOver >= 0 && now-e.lastOver < overuseMemory,
		RTT:       time.Duration(e.rtt) * time.Microsecond,
	}
}

// Restore sets the estimate back to bps and forgets the congestion just seen: the
// caller knows what caused it (its own probe's padding, now stopped) and that bps was
// carried before. A queue that is still there shows again in the next reports.
func (e *Estimator) Restore(bps int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	bps = min(max(bps, e.rate.cfg.Min), e.rate.cfg.Max)
	e.rate.bitrate, e.loss.bitrate = bps, bps
	e.rate.state = hold
	e.loss.fraction = 0
	e.lastOver = -1
}

// overuseMemory is how long a congestion signal stays in Stats: longer than the SFU's
// allocator looks between two decisions.
const overuseMemory = 500_000 // µs

func (e *Estimator) bitrate() int { return min(e.rate.bitrate, e.loss.bitrate) }

// Feedback applies one transport-wide feedback report received now: pkt is the RTCP
// packet (transport-layer feedback, format 15), header included. It is read in place,
// allocating nothing. A report that does not parse, or does not fit what was sent, is
// used as far as it makes sense and otherwise ignored: it comes from the network.
func (e *Estimator) Feedback(pkt []byte, now time.Time) {
	fb, ok := parseFeedback(pkt)
	if !ok {
		return
	}
	at := e.micros(now)
	e.mu.Lock()
	defer e.mu.Unlock()

	ref := fb.ref
	if e.refInit {
		// 24 bits of 64 ms wrap after 12 days; take the nearest unwrapping.
		ref = e.ref + ((ref-e.ref+(1<<23))&0xffffff - (1 << 23))
	}
	e.ref, e.refInit = ref, true
	arrival := ref * 64_000 // µs, in the viewer's clock

	var w walk
	fb.each(func(seq uint16, symbol byte, delta int64) {
		arrival += delta // 0 but for a packet received with a delta
		p := &e.history[seq%historySize]
		if !p.valid || p.seq != seq {
			return // not ours, or acknowledged already
		}
		if p.cluster != 0 {
			// A probe train is measured on its own (probe.go): it is padding sent in
			// one burst, and neither its dispersion nor a loss in the queue it built
			// says anything of the media's path.
			e.probeArrived(p, arrival, symbol == notReceived)
			if symbol == received {
				p.valid = false
			}
			return
		}
		switch symbol {
		case received:
			w.received(e, p, arrival)
		case notReceived:
			w.lost++
		}
	})
	if w.count == 0 && w.lost == 0 {
		return
	}
	if w.count > 0 {
		// The newest packet acknowledged left at lastSent and reached the viewer shortly
		// before it sent this report (at most its feedback interval): the round trip is
		// at most now - lastSent; smoothed, it errs by under one feedback interval.
		sample := at - w.lastSent
		if e.rtt == 0 {
			e.rtt = sample
		} else {
			e.rtt = (7*e.rtt + sample) / 8
		}
		e.acked.add(w.firstArrival, w.lastArrival, w.bytes)
	}
	thr, hasThr := e.acked.rate()
	usage := e.trend.state
	queueing := usage == overusing || e.lastOver >= 0 && at-e.lastOver < overuseMemory
	e.loss.update(w.count, w.lost, at, e.rtt, e.rate.bitrate, thr, hasThr, queueing)
	if usage == overusing {
		e.lastOver = at
	}
	if e.rate.update(usage, thr, hasThr, at, e.rtt) {
		e.lastOver = at
	}
	if usage == normal && hasThr && thr > e.bitrate() && e.loss.fraction < lossLow {
		// The viewer received more than the estimate with no queue building and no
		// loss: the link carries it. This is how a probe (the SFU trying a higher
		// layer) lifts the estimate at once instead of at 8% a second.
		e.rate.bitrate = min(thr, e.rate.cfg.Max)
		e.loss.bitrate = max(e.loss.bitrate, e.rate.bitrate)
	}
	e.loss.follow(e.rate.bitrate)
}

// walk gathers what one feedback report acknowledges.
type walk struct {
	count, lost               int
	bytes                     int
	firstArrival, lastArrival int64
	lastSent                  int64
}

func (w *walk) received(e *Estimator, p *sent, arrival int64) {
	e.lastAckedSent = max(e.lastAckedSent, p.at)
	if w.count == 0 || arrival < w.firstArrival {
		w.firstArrival = arrival
	}
	w.lastArrival = max(w.lastArrival, arrival)
	w.lastSent = max(w.lastSent, p.at)
	w.count++
	w.bytes += int(p.size)
	p.valid = false // a report repeating the packet counts it once
	if d, ok := e.groups.add(p.at, arrival, int(p.size)); ok {
		e.trend.update(d)
	}
}
