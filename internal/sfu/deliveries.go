package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/livegate/livegate/internal/bwe"
)

// deliveries remembers which resends on one viewer connection's RTX streams the
// viewer's transport-wide feedback reported received. A client whose NACK generator
// does not see RTX repairs arrive (pion's reads them past it) asks for a repaired
// packet again every NACK interval until the packet leaves its window; without this
// record the node would resend it up to maxRepairs times although the first one got
// there. Feedback that is lost only leaves a resend unknown, resent as before.
type deliveries struct {
	// log is made at the connection's first resend: a viewer on a clean link needs
	// none, and its feedback is not walked a second time.
	log atomic.Pointer[deliveryLog]
}

type deliveryLog struct {
	mu   sync.Mutex
	sent [deliverySlots]resend   // by transport-wide sequence number
	got  [deliverySlots]delivery // by the original sequence number
}

// deliverySlots is sized for the second a repair is of use (maxRepairAge): feedback
// comes back within a fraction of it, and a viewer loses far fewer than this many
// packets in it. A record overwritten early only means a resend as before, never a
// resend held wrongly: every lookup checks the full numbers. 256 keeps the log at 7 KB.
const deliverySlots = 256

type resend struct {
	tseq, osn uint16
	ssrc      uint32
	valid     bool
}

type delivery struct {
	osn  uint16
	ssrc uint32
	at   int64 // unix ns the feedback said so; 0: none
}

// resent records that the packet osn went out again on the RTX stream ssrc, numbered
// tseq for transport-wide feedback.
func (d *deliveries) resent(tseq uint16, ssrc uint32, osn uint16) {
	l := d.log.Load()
	if l == nil {
		d.log.CompareAndSwap(nil, &deliveryLog{})
		l = d.log.Load()
	}
	l.mu.Lock()
	l.sent[tseq%deliverySlots] = resend{tseq: tseq, osn: osn, ssrc: ssrc, valid: true}
	l.mu.Unlock()
}

// feedback marks the resends a transport-wide feedback report (pkt) says arrived.
func (d *deliveries) feedback(pkt []byte, now int64) {
	l := d.log.Load()
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	bwe.EachReceived(pkt, func(tseq uint16) {
		s := &l.sent[tseq%deliverySlots]
		if !s.valid || s.tseq != tseq {
			return // media, padding, or a resend recorded over
		}
		s.valid = false
		l.got[s.osn%deliverySlots] = delivery{osn: s.osn, ssrc: s.ssrc, at: now}
	})
}

// delivered says a resend of osn on ssrc reached the viewer lately: within
// 2*maxRepairAge, so that a sequence number used again after wrapping is not taken for
// the old packet.
func (d *deliveries) delivered(ssrc uint32, osn uint16, now int64) bool {
	l := d.log.Load()
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.got[osn%deliverySlots]
	return g.at != 0 && g.osn == osn && g.ssrc == ssrc && time.Duration(now-g.at) < 2*maxRepairAge
}
