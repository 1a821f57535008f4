package bwe

import "time"

// A probe cluster is a train of packets sent back to back (padding, in the SFU) to ask
// whether the viewer's link would carry a higher rate, without sending that rate for
// long: the bottleneck spaces the train out to its own rate, and the viewer's feedback
// reports the arrival times, so the cluster's bytes over its arrival span are the rate
// the link delivered it at (packet-train dispersion, as libwebrtc's probe clusters are
// measured). A train of a few kilobytes costs a link that cannot take it tens of
// milliseconds of queue, not the seconds of a layer that does not fit.

// cluster is what feedback has told of one probe cluster.
type cluster struct {
	id                  uint8
	sent, recv, lost    int
	bytes, firstSize    int
	firstArr, lastArr   int64
	firstSent, lastSent int64
}

// wireOverhead is what a packet takes on the wire beyond its RTP bytes, UDP over IPv4
// and an SRTP tag: a bottleneck carries it too, and a train of small padding packets
// pays it far more often per byte than media does, so a probe's rate counts it.
const wireOverhead = 28 + 16

// probeMinPackets is the fewest packets of a cluster that must arrive for its rate to
// mean anything.
const probeMinPackets = 5

// SentProbe is Sent for a packet of probe cluster id (non-zero; ids are reused after
// 255 clusters, a cluster's result is read long before).
func (e *Estimator) SentProbe(size int, now time.Time, id uint8) uint16 {
	at := e.micros(now)
	e.mu.Lock()
	defer e.mu.Unlock()
	seq := e.next
	e.next++
	e.history[seq%historySize] = sent{at: at, size: int32(size), seq: seq, valid: true, cluster: id}
	c := e.probeCluster(id)
	if c.sent == 0 {
		c.firstSent = at
	}
	c.sent++
	c.lastSent = at
	return seq
}

// probeCluster is cluster id's record, a new one replacing the oldest; callers hold mu.
func (e *Estimator) probeCluster(id uint8) *cluster {
	for i := range e.clusters {
		if e.clusters[i].id == id {
			return &e.clusters[i]
		}
	}
	c := &e.clusters[e.nextCluster]
	e.nextCluster = (e.nextCluster + 1) % len(e.clusters)
	*c = cluster{id: id}
	return c
}

// probeArrived notes a cluster's packet reported received at arrival (µs, viewer's
// clock) or, with lost, reported lost; callers hold mu.
func (e *Estimator) probeArrived(p *sent, arrival int64, lost bool) {
	c := e.probeCluster(p.cluster)
	if lost {
		c.lost++
		return
	}
	if c.recv == 0 || arrival < c.firstArr {
		c.firstArr, c.firstSize = arrival, int(p.size)
	}
	c.lastArr = max(c.lastArr, arrival)
	c.recv++
	c.bytes += int(p.size)
}

// ProbeRate is the rate, bits per second, at which the link delivered probe cluster
// id: its bytes on the wire over their arrival span, the first packet's left out (it
// starts the span). ok is false until feedback has reported every packet of it, or has
// acknowledged a packet sent after it (the train's unreported packets are lost: a
// shaper drops a train's tail, and a receiver may drop padding it is slow to read; the
// ones that arrived were still spaced by the bottleneck). Rate 0 with ok: too few
// arrived to tell, which counts as not carried.
func (e *Estimator) ProbeRate(id uint8) (rate int, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.probeCluster(id)
	if c.sent == 0 || c.recv+c.lost < c.sent && e.lastAckedSent <= c.lastSent {
		return 0, false
	}
	if c.recv < probeMinPackets {
		return 0, true
	}
	span := c.lastArr - c.firstArr
	if span <= 0 {
		return e.rate.cfg.Max, true // the train arrived as it left: far more room
	}
	wire := c.bytes - c.firstSize + (c.recv-1)*wireOverhead
	return min(int(float64(wire)*8*1e6/float64(span)), e.rate.cfg.Max), true
}

// Lift raises the estimate to bps, what the link was just shown to carry (a probe
// cluster's rate), if it is lower. Unlike the estimate's own growth it does not wait
// for the viewer to receive that much media.
func (e *Estimator) Lift(bps int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	bps = min(bps, e.rate.cfg.Max)
	if bps > e.rate.bitrate {
		e.rate.bitrate = bps
	}
	e.loss.bitrate = max(e.loss.bitrate, e.rate.bitrate)
}
