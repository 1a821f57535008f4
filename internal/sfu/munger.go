package sfu

// munger maps one source's RTP sequence numbers and timestamps into the numbering one
// viewer sees. It does no I/O, so it is table-tested and fuzzed on its own: the viewer's
// stream must stay continuous when the source underneath changes (a publisher's encoder
// reconnecting, a simulcast layer switch, a relay taking over), which is exactly when
// offsets are rebased.
//
// The zero value is not started; the first packet passed to start fixes the offsets so
// that it goes out as (startSeq, startTS), random per viewer as RFC 3550 asks.
type munger struct {
	startSeq  uint16
	startTS   uint32
	started   bool
	seqOffset uint16 // source minus viewer
	tsOffset  uint32
	lastSeq   uint16 // the highest sequence number sent, in the viewer's numbering
	lastTS    uint32
	baseSeq   uint16 // the viewer's sequence number of the first packet since the last (re)base
}

func newMunger(startSeq uint16, startTS uint32) munger {
	return munger{startSeq: startSeq, startTS: startTS}
}

// start fixes the offsets on the first packet to be sent.
func (m *munger) start(seq uint16, ts uint32) {
	m.started = true
	m.seqOffset = seq - m.startSeq
	m.tsOffset = ts - m.startTS
	m.lastSeq, m.lastTS = m.startSeq-1, m.startTS
	m.baseSeq = m.startSeq
}

// rebase continues the viewer's stream from a new source position: the packet (seq, ts)
// goes out as the one after the last sent, tsGap ticks later (at least 1, so the
// viewer's decoder sees a new frame).
func (m *munger) rebase(seq uint16, ts uint32, tsGap uint32) {
	if !m.started {
		m.start(seq, ts)
		return
	}
	m.seqOffset = seq - (m.lastSeq + 1)
	m.tsOffset = ts - (m.lastTS + max(tsGap, 1))
	m.baseSeq = m.lastSeq + 1
}

// rewrite maps a source packet into the viewer's numbering and remembers the highest
// sent, so that a rebase continues from it.
func (m *munger) rewrite(seq uint16, ts uint32) (uint16, uint32) {
	out, outTS := seq-m.seqOffset, ts-m.tsOffset
	if int16(out-m.lastSeq) > 0 { // newer, modulo 2^16
		m.lastSeq, m.lastTS = out, outTS
	}
	return out, outTS
}

// upstream maps a viewer's sequence number (a NACK) back to the source's. ok is false for
// a packet sent before the last rebase: it came from another source (an earlier encoder
// connection, another simulcast layer), whose numbering the current offset does not
// describe, and answering from the current source would send the wrong packet.
func (m *munger) upstream(seq uint16) (up uint16, ok bool) {
	if !m.started || int16(seq-m.baseSeq) < 0 || int16(seq-m.lastSeq) > 0 {
		return 0, false
	}
	return seq + m.seqOffset, true
}
