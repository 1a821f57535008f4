package bwe

import (
	"math/rand"
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

// link simulates a viewer's path on a virtual clock: a bottleneck of capacity bits/s
// with a drop-tail queue of maxQueue, a one-way delay, optional random loss, and a
// receiver that reports every packet's arrival in transport-wide feedback every 100 ms,
// built by pion's own recorder (an independent implementation of the format).
type link struct {
	t        *testing.T
	e        *Estimator
	start    time.Time
	now      time.Duration // virtual time since start
	capacity func(time.Duration) int
	maxQueue time.Duration
	delay    time.Duration
	loss     float64
	overhead int // bytes each packet takes on the link beyond its size
	rng      *rand.Rand

	free     time.Duration // when the bottleneck is next free
	rec      *twcc.Recorder
	pending  []arrival
	nextFB   time.Duration
	inflight []report
	sentBits int
}

type arrival struct {
	seq uint16
	at  time.Duration
}

type report struct {
	at  time.Duration
	pkt []byte
}

func newLink(t *testing.T, capacity func(time.Duration) int) *link {
	base := time.Now()
	e := New(Config{Initial: 1_000_000, Min: 30_000, Max: 20_000_000})
	e.base = base
	return &link{t: t, e: e, start: base, capacity: capacity, maxQueue: 150 * time.Millisecond,
		delay: 20 * time.Millisecond, rng: rand.New(rand.NewSource(1)), rec: twcc.NewRecorder(1),
		nextFB: 100 * time.Millisecond}
}

// send puts one packet of size bytes on the link at the current virtual time.
func (l *link) send(size int) { l.sendIn(size, 0) }

// sendIn is send for a packet of probe cluster id (0: none).
func (l *link) sendIn(size int, id uint8) {
	var seq uint16
	if id != 0 {
		seq = l.e.SentProbe(size, l.start.Add(l.now), id)
	} else {
		seq = l.e.Sent(size, l.start.Add(l.now))
	}
	l.sentBits += size * 8
	if l.loss > 0 && l.rng.Float64() < l.loss {
		return
	}
	tx := time.Duration(float64((size+l.overhead)*8) / float64(l.capacity(l.now)) * float64(time.Second))
	begin := max(l.free, l.now)
	if begin-l.now > l.maxQueue {
		return // the queue is full: dropped
	}
	l.free = begin + tx
	l.pending = append(l.pending, arrival{seq, l.free + l.delay})
}

// advance runs the virtual clock to d: arrivals are recorded, feedback is sent and
// delivered to the estimator a one-way delay later.
func (l *link) advance(to time.Duration) {
	for l.now < to {
		step := min(to, l.now+time.Millisecond)
		l.now = step
		keep := l.pending[:0]
		for _, a := range l.pending {
			if a.at <= l.now {
				l.rec.Record(2, a.seq, l.start.Add(a.at).UnixMicro())
			} else {
				keep = append(keep, a)
			}
		}
		l.pending = keep
		if l.now >= l.nextFB {
			l.nextFB += 100 * time.Millisecond
			for _, p := range l.rec.BuildFeedbackPacket() {
				if _, ok := p.(*rtcp.TransportLayerCC); ok {
					raw, err := p.Marshal() // the wire format, as a viewer's report arrives
					if err != nil {
						l.t.Fatal(err)
					}
					l.inflight = append(l.inflight, report{l.now + l.delay, raw})
				}
			}
		}
		for len(l.inflight) > 0 && l.inflight[0].at <= l.now {
			l.e.Feedback(l.inflight[0].pkt, l.start.Add(l.now))
			l.inflight = l.inflight[1:]
		}
	}
}

// run sends at rate(estimate) bits/s in 1,200-byte packets, 30 frames a second, until d.
func (l *link) run(until time.Duration, rate func(est int) int) {
	const frame = 33 * time.Millisecond
	for l.now < until {
		bits := rate(l.stats().Bitrate) * int(frame) / int(time.Second)
		for ; bits > 0; bits -= 1200 * 8 {
			l.send(min(1200, max(bits/8, 100)))
		}
		l.advance(l.now + frame)
	}
}

func (l *link) stats() Stats {
	l.e.mu.Lock()
	defer l.e.mu.Unlock()
	now := l.e.micros(l.start.Add(l.now))
	return Stats{Bitrate: l.e.bitrate(), Loss: l.e.loss.fraction,
		Overusing: l.e.lastOver >= 0 && now-l.e.lastOver < overuseMemory}
}

func constant(bps int) func(time.Duration) int { return func(time.Duration) int { return bps } }

// A link carrying 2.5 Mbit/s falls to 1 Mbit/s under a sender that follows its
// estimate: the estimate is below the new capacity within 2 s and then stays near it.
func TestEstimateFallsToCapacity(t *testing.T) {
	capacity := func(d time.Duration) int {
		if d < 3*time.Second {
			return 3_000_000
		}
		return 1_000_000
	}
	l := newLink(t, capacity)
	l.e.rate.bitrate, l.e.loss.bitrate = 2_500_000, 2_500_000
	send := func(est int) int { return min(est, 2_500_000) }
	l.run(3*time.Second, send)
	l.run(5*time.Second, send)
	if got := l.stats().Bitrate; got > 1_000_000 {
		t.Fatalf("estimate 2 s after the link fell to 1 Mbit/s: %d bit/s, want below 1,000,000", got)
	}
	var lo, hi int
	for i := 0; i < 20; i++ {
		l.run(l.now+500*time.Millisecond, send)
		got := l.stats().Bitrate
		if i == 0 || got < lo {
			lo = got
		}
		hi = max(hi, got)
	}
	if lo < 500_000 || hi > 1_300_000 {
		t.Fatalf("estimate over 10 s following a 1 Mbit/s link ranged %d–%d bit/s, want within 500,000–1,300,000", lo, hi)
	}
}

// A link with room: a 1.5 Mbit/s stream on 10 Mbit/s sees no congestion, and the
// estimate grows past what is sent (so the SFU may try a higher layer).
func TestEstimateGrowsOnFreeLink(t *testing.T) {
	l := newLink(t, constant(10_000_000))
	l.run(10*time.Second, func(int) int { return 1_500_000 })
	st := l.stats()
	if st.Overusing || st.Loss > 0 {
		t.Fatalf("free link reported congestion: %+v", st)
	}
	if st.Bitrate < 1_800_000 {
		t.Fatalf("estimate on a free link carrying 1.5 Mbit/s: %d bit/s, want at least 1,800,000", st.Bitrate)
	}
}

// Random loss with no queue: the loss-based rate cuts the estimate; loss is reported.
func TestLossCutsEstimate(t *testing.T) {
	l := newLink(t, constant(10_000_000))
	l.loss = 0.2
	l.run(5*time.Second, func(int) int { return 1_000_000 })
	st := l.stats()
	if st.Loss < 0.12 || st.Loss > 0.3 {
		t.Fatalf("reported loss %.3f with 20%% dropped", st.Loss)
	}
	if st.Bitrate > 700_000 {
		t.Fatalf("estimate with 20%% loss: %d bit/s, want cut below 700,000", st.Bitrate)
	}
}

// The link drops to 400 kbit/s and comes back: the estimate follows down, and when the
// sender tries a higher rate again (as the SFU probes by switching layers), the
// estimate takes what the link delivered without a queue at once.
func TestEstimateRecovers(t *testing.T) {
	capacity := func(d time.Duration) int {
		if d >= 3*time.Second && d < 8*time.Second {
			return 400_000
		}
		return 5_000_000
	}
	l := newLink(t, capacity)
	send := func(est int) int { return min(est, 1_200_000) }
	l.run(3*time.Second, send)
	l.run(5*time.Second, send)
	if got := l.stats().Bitrate; got > 450_000 {
		t.Fatalf("2 s after the link fell to 400 kbit/s the estimate is %d", got)
	}
	l.run(8*time.Second, send)
	low := l.stats().Bitrate
	l.run(10*time.Second, func(int) int { return 1_200_000 })
	if st := l.stats(); st.Bitrate < 1_100_000 || st.Overusing {
		t.Fatalf("2 s into a 1.2 Mbit/s probe on a recovered link: %+v (from %d bit/s), want at least 1,100,000 and no overuse", st, low)
	}
}

// Reports from a broken or hostile viewer must not panic or move the estimate wildly:
// acknowledgments of packets never sent count for nothing.
func TestFeedbackForUnsentPackets(t *testing.T) {
	e := New(Config{Initial: 1_000_000})
	fb := &rtcp.TransportLayerCC{BaseSequenceNumber: 500, PacketStatusCount: 1000, ReferenceTime: 1,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 1000}},
		RecvDeltas:   []*rtcp.RecvDelta{{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 250}}}
	fb.Header = rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback, Length: uint16(fb.MarshalSize()/4 - 1)}
	raw, err := fb.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := parseFeedback(raw); !ok {
		t.Fatalf("report not parsed: %x", raw)
	}
	e.Feedback(raw, time.Now())
	if st := e.Stats(); st.Bitrate != 1_000_000 || st.Loss != 0 {
		t.Fatalf("stats after a report of unsent packets: %+v", st)
	}
}

func TestSentDoesNotAllocate(t *testing.T) {
	e := New(Config{Initial: 1_000_000})
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() { e.Sent(1200, now) }); n != 0 {
		t.Fatalf("Sent allocates %.1f times per packet", n)
	}
}

// FuzzFeedback feeds arbitrary bytes, as a viewer may send, to the estimator.
func FuzzFeedback(f *testing.F) {
	rec := twcc.NewRecorder(1)
	for i := 0; i < 50; i++ {
		if i%7 != 3 {
			rec.Record(2, uint16(i), int64(i)*1000+int64(i%3)*70_000)
		}
	}
	for _, p := range rec.BuildFeedbackPacket() {
		if b, err := p.Marshal(); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e := New(Config{Initial: 1_000_000})
		for i := 0; i < 100; i++ {
			e.Sent(1200, time.Now())
		}
		e.Feedback(raw, time.Now())
		e.Feedback(raw, time.Now())
		if st := e.Stats(); st.Bitrate < 10_000 || st.Bitrate > 50_000_000 {
			t.Fatalf("estimate out of bounds: %+v", st)
		}
	})
}

// The in-place walk of a report reads what pion's parser reads, packet by packet.
func TestFeedbackParsesLikePion(t *testing.T) {
	rec := twcc.NewRecorder(1)
	for i := 0; i < 300; i++ {
		if i%11 != 5 && i%50 < 40 {
			rec.Record(2, uint16(65400+i), int64(i)*1500+int64(i%4)*90_000)
		}
	}
	for _, p := range rec.BuildFeedbackPacket() {
		raw, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var want rtcp.TransportLayerCC
		if err := want.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		var wantSyms []uint16
		for _, c := range want.PacketChunks {
			switch c := c.(type) {
			case *rtcp.RunLengthChunk:
				for n := 0; n < int(c.RunLength); n++ {
					wantSyms = append(wantSyms, c.PacketStatusSymbol)
				}
			case *rtcp.StatusVectorChunk:
				wantSyms = append(wantSyms, c.SymbolList...)
			}
		}
		wantSyms = wantSyms[:want.PacketStatusCount]
		fb, ok := parseFeedback(raw)
		if !ok {
			t.Fatalf("report not parsed: %x", raw)
		}
		if fb.base != want.BaseSequenceNumber || fb.count != int(want.PacketStatusCount) || fb.ref != int64(want.ReferenceTime) {
			t.Fatalf("header: base %d count %d ref %d, pion %d %d %d", fb.base, fb.count, fb.ref, want.BaseSequenceNumber, want.PacketStatusCount, want.ReferenceTime)
		}
		i, d := 0, 0
		fb.each(func(seq uint16, symbol byte, delta int64) {
			if seq != want.BaseSequenceNumber+uint16(i) {
				t.Fatalf("packet %d: seq %d", i, seq)
			}
			w := wantSyms[i]
			switch {
			case w == rtcp.TypeTCCPacketNotReceived && symbol != notReceived,
				(w == rtcp.TypeTCCPacketReceivedSmallDelta || w == rtcp.TypeTCCPacketReceivedLargeDelta) && symbol != received:
				t.Fatalf("packet %d: symbol %d, pion %d", i, symbol, w)
			}
			if symbol == received {
				if delta != want.RecvDeltas[d].Delta {
					t.Fatalf("packet %d: delta %d µs, pion %d", i, delta, want.RecvDeltas[d].Delta)
				}
				d++
			}
			i++
		})
		if i != len(wantSyms) || d != len(want.RecvDeltas) {
			t.Fatalf("walked %d packets and %d deltas, pion %d and %d", i, d, len(wantSyms), len(want.RecvDeltas))
		}
	}
}

func TestFeedbackDoesNotAllocate(t *testing.T) {
	e := New(Config{Initial: 1_000_000})
	rec := twcc.NewRecorder(1)
	for i := 0; i < 40; i++ {
		e.Sent(1200, time.Now())
		rec.Record(2, uint16(i), int64(i)*1000)
	}
	raw, err := rec.BuildFeedbackPacket()[0].Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { e.Feedback(raw, time.Now()) }); n != 0 {
		t.Fatalf("Feedback allocates %.1f times per report", n)
	}
}

// A train of padding sent back to back through a 700 kbit/s bottleneck arrives at
// 700 kbit/s, whatever it left at; through a 5 Mbit/s one, at about 5; and a train
// mostly lost tells no rate.
func TestProbeClusterMeasuresTheBottleneck(t *testing.T) {
	for _, c := range []struct {
		capacity, lo, hi int
	}{{700_000, 650_000, 750_000}, {5_000_000, 4_500_000, 5_500_000}} {
		l := newLink(t, constant(c.capacity))
		l.overhead = wireOverhead                                     // a shaper counts the UDP/IP headers and the SRTP tag
		l.run(2*time.Second, func(int) int { return c.capacity / 3 }) // media, well within
		for range 25 {
			l.sendIn(275, 7)
		}
		if _, ok := l.e.ProbeRate(7); ok {
			t.Fatal("a rate before any feedback")
		}
		l.advance(l.now + 500*time.Millisecond)
		rate, ok := l.e.ProbeRate(7)
		if !ok || rate < c.lo || rate > c.hi {
			t.Errorf("%d bit/s link: probe rate %d (ok %v), want %d..%d", c.capacity, rate, ok, c.lo, c.hi)
		}
	}

	l := newLink(t, constant(700_000))
	l.loss = 0.5
	l.run(time.Second, func(int) int { return 100_000 })
	for range 25 {
		l.sendIn(275, 9)
	}
	l.run(l.now+500*time.Millisecond, func(int) int { return 100_000 }) // media after: the gaps are reported
	if rate, ok := l.e.ProbeRate(9); !ok || rate < 600_000 || rate > 900_000 {
		t.Errorf("half the train lost on a 700 kbit/s link: rate %d (ok %v), want the link's, from the rest", rate, ok)
	}
}

// EachReceived names exactly the packets pion's recorder reported received, across the
// sequence numbers' wrap; a report that does not parse names none.
func TestEachReceived(t *testing.T) {
	rec := twcc.NewRecorder(1)
	want := map[uint16]bool{}
	for i := range 120 {
		if i%9 != 4 {
			seq := uint16(65500 + i)
			rec.Record(2, seq, int64(i)*2000)
			want[seq] = true
		}
	}
	got := map[uint16]bool{}
	for _, p := range rec.BuildFeedbackPacket() {
		raw, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		EachReceived(raw, func(seq uint16) {
			if got[seq] {
				t.Errorf("seq %d named twice", seq)
			}
			got[seq] = true
		})
	}
	if len(got) != len(want) {
		t.Errorf("named %d packets received, the recorder reported %d", len(got), len(want))
	}
	for seq := range got {
		if !want[seq] {
			t.Errorf("seq %d named received, never recorded", seq)
		}
	}
	EachReceived([]byte{0x8f, 205, 0, 1}, func(seq uint16) { t.Errorf("a truncated report named seq %d", seq) })
}
