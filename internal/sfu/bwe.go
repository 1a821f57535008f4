package sfu

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livegate/livegate/internal/bwe"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// pacer is one viewer connection's pacer, in front of its send-side estimator: it hands
// each packet to its stream's writer and smooths bursts (a joiner's keyframe replay, a
// layer switch's keyframe, a run of NACK answers) to a multiple of the viewer's estimate,
// so they do not overflow the viewer's link. Packets within a token bucket of about
// 50 ms go straight through, on the caller's goroutine, with no copy; a burst beyond it
// is copied into a queue that a goroutine of the pacer drains at the pacing rate and
// that ends when the queue is empty. It also sends a stream's RTX
// packets (an SSRC no interceptor binds) down the media stream's writer, the same SRTP
// session.
type pacer struct {
	writers atomic.Pointer[map[uint32]interceptor.RTPWriter]
	any     atomic.Pointer[interceptor.RTPWriter]
	metrics *Metrics

	mu       sync.Mutex // guards AddStream's copy-on-write and everything below
	rate     float64    // bytes per second
	tokens   float64    // bytes that may go now
	last     time.Time  // when tokens were last topped up
	queue    []queued
	queued   int  // bytes in queue
	draining bool // a drain goroutine runs
	closed   bool
	done     chan struct{} // closed when the pacer closes

	// Repairs' own bucket (allowRepair): refilled at repairShare of the estimate.
	repairTokens float64
	repairLast   time.Time
}

type queued struct {
	h       rtp.Header
	payload []byte
	a       interceptor.Attributes
}

const (
	paceFactor  = 2.5                    // pacing rate over the estimate, as libwebrtc paces video
	paceBurst   = 50 * time.Millisecond  // what the bucket holds, at the pacing rate
	minBurst    = 20 << 10               // bytes: a keyframe's first packets at a low rate
	maxQueueDur = time.Second            // beyond this much queued, new packets are dropped
	maxQueued   = 2048                   // packets
	pacerWait   = 100 * time.Millisecond // the longest a drain sleeps before it rechecks
)

// Repairs' share of a viewer's bandwidth. Retransmissions and media leave through the
// same pacer; without a share of their own, a viewer whose link loses a lot asks for
// more repairs than the link carries, they queue ahead of fresh media, and the picture
// stops while the node resends the past (libwebrtc caps its retransmissions the same
// way). Repairs may take up to half the estimate, averaged over repairWindow; the rest
// is media's. At 10% loss repairs take about a tenth.
const (
	repairShare  = 0.5
	repairWindow = 200 * time.Millisecond
)

// allowRepair says whether a repair of size bytes fits repairs' share now, and takes
// it from the share if so.
func (p *pacer) allowRepair(size int, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	rate := p.rate / paceFactor * repairShare
	depth := max(rate*repairWindow.Seconds(), maxPacket)
	if p.repairLast.IsZero() {
		p.repairTokens = depth
	} else {
		p.repairTokens = min(p.repairTokens+now.Sub(p.repairLast).Seconds()*rate, depth)
	}
	p.repairLast = now
	if p.repairTokens < float64(size) {
		return false
	}
	p.repairTokens -= float64(size)
	return true
}

func newPacer(m *Metrics) *pacer {
	p := &pacer{metrics: m, done: make(chan struct{})}
	empty := map[uint32]interceptor.RTPWriter{}
	p.writers.Store(&empty)
	p.setRate(initialEstimate)
	return p
}

var errNoStream = errors.New("no stream bound yet")

// AddStream sends the packets of the stream ssrc through w.
func (p *pacer) AddStream(ssrc uint32, w interceptor.RTPWriter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.writers.Load()
	next := make(map[uint32]interceptor.RTPWriter, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[ssrc] = w
	p.writers.Store(&next)
	p.any.CompareAndSwap(nil, &w)
}

// SetTargetBitrate paces against a new estimate, in bits per second.
func (p *pacer) SetTargetBitrate(bps int) {
	p.mu.Lock()
	p.setRate(bps)
	p.mu.Unlock()
}

func (p *pacer) setRate(bps int) {
	p.rate = float64(bps) / 8 * paceFactor
}

// burst is the bucket's depth in bytes.
func (p *pacer) burst() float64 { return max(p.rate*paceBurst.Seconds(), minBurst) }

// refill tops the bucket up for the time passed since the last refill.
func (p *pacer) refill(now time.Time) {
	if !p.last.IsZero() {
		p.tokens = min(p.tokens+now.Sub(p.last).Seconds()*p.rate, p.burst())
	} else {
		p.tokens = p.burst()
	}
	p.last = now
}

// Budget is how many bytes the viewer can be sent within d at its pacing rate.
func (p *pacer) Budget(d time.Duration) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return int(p.rate * d.Seconds())
}

// Write implements interceptor.RTPWriter.
func (p *pacer) Write(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
	size := float64(h.MarshalSize() + len(payload))
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, net.ErrClosed
	}
	if len(p.queue) == 0 && !p.draining {
		// The clock is read only when the bucket looks short: between refills it only
		// drains, so this errs on the side of pacing, and most packets skip time.Now.
		if p.tokens < size {
			p.refill(time.Now())
		}
		if p.tokens >= size {
			p.tokens -= size
			p.mu.Unlock()
			return p.send(h, payload, a)
		}
	}
	if len(p.queue) >= maxQueued || float64(p.queued) > p.rate*maxQueueDur.Seconds() {
		p.mu.Unlock()
		p.metrics.PacerDrops.Inc()
		return len(payload), nil // dropped as a full link would; the viewer NACKs it
	}
	p.queue = append(p.queue, copyPacket(h, payload, a))
	p.queued += len(payload)
	if !p.draining {
		p.draining = true
		go p.drain()
	}
	p.mu.Unlock()
	return len(payload), nil
}

// copyPacket keeps a packet past the caller's return: its header's extensions and
// payload point into buffers the caller reuses.
func copyPacket(h *rtp.Header, payload []byte, a interceptor.Attributes) queued {
	q := queued{h: *h, payload: append([]byte(nil), payload...), a: a}
	q.h.Extensions = make([]rtp.Extension, 0, len(h.Extensions))
	for _, id := range h.GetExtensionIDs() {
		_ = q.h.SetExtension(id, append([]byte(nil), h.GetExtension(id)...))
	}
	q.h.CSRC = append([]uint32(nil), h.CSRC...)
	return q
}

// drain sends the queue at the pacing rate, then ends.
func (p *pacer) drain() {
	for {
		p.mu.Lock()
		if p.closed || len(p.queue) == 0 {
			p.draining = false
			p.queue, p.queued = nil, 0
			p.mu.Unlock()
			return
		}
		q := p.queue[0]
		size := float64(q.h.MarshalSize() + len(q.payload))
		p.refill(time.Now())
		if p.tokens < size {
			wait := time.Duration((size - p.tokens) / p.rate * float64(time.Second))
			p.mu.Unlock()
			select {
			case <-time.After(min(wait, pacerWait)):
			case <-p.done:
			}
			continue
		}
		p.tokens -= size
		p.queue[0] = queued{}
		p.queue = p.queue[1:]
		p.queued -= len(q.payload)
		p.mu.Unlock()
		_, _ = p.send(&q.h, q.payload, q.a)
	}
}

func (p *pacer) send(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
	if w, ok := (*p.writers.Load())[h.SSRC]; ok {
		return w.Write(h, payload, a)
	}
	if w := p.any.Load(); w != nil {
		return (*w).Write(h, payload, a)
	}
	return 0, errNoStream
}

// idle says nothing waits in the queue: padding sent now would delay no media.
func (p *pacer) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) == 0 && !p.draining
}

// Close drops what is queued.
func (p *pacer) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	return nil
}

// bindFilter wraps an interceptor factory so that each of its interceptors binds a
// local stream through bind, which decides what of the stream the wrapped one sees.
type bindFilter struct {
	inner interceptor.Factory
	bind  func(inner interceptor.Interceptor, info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter
}

func (f bindFilter) NewInterceptor(id string) (interceptor.Interceptor, error) {
	i, err := f.inner.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	return &filtered{Interceptor: i, bind: f.bind}, nil
}

type filtered struct {
	interceptor.Interceptor
	bind func(inner interceptor.Interceptor, info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter
}

func (f *filtered) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return f.bind(f.Interceptor, info, w)
}

// mediaReports lets pion's sender-report interceptor see only each stream's media
// packets. A viewer's retransmissions on its RTX stream go down the media stream's
// writer; counted as media, an old frame's timestamp would be taken for the newest and
// skew the viewer's lip sync.
func mediaReports(sr interceptor.Factory) interceptor.Factory {
	return bindFilter{inner: sr, bind: func(i interceptor.Interceptor, info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
		counted := i.BindLocalStream(info, w)
		ssrc := info.SSRC
		return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
			if h.SSRC != ssrc {
				return w.Write(h, payload, a)
			}
			return counted.Write(h, payload, a)
		})
	}}
}

// sendSide is one viewer connection's interceptor for send-side bandwidth estimation:
// every packet leaves through the pacer, is numbered with the transport-wide sequence
// number and recorded by the estimator as it goes; the viewer's transport-wide feedback
// is read off its RTCP and fed to the estimator, whose estimate paces the connection.
// A viewer that negotiated no transport-wide sequence numbers gives no feedback: its
// streams bypass all of it.
type sendSide struct {
	interceptor.NoOp
	est   *bwe.Estimator
	pacer *pacer
	paced atomic.Bool // a stream is bound through the pacer
	// cluster is the probe cluster whose padding is being sent now (probe.go; 0: none),
	// lastCluster the last id handed out.
	cluster     atomic.Uint32
	lastCluster atomic.Uint32
	// deliveries are the resends the viewer's feedback acknowledged (deliveries.go).
	deliveries deliveries
}

// probeCluster is the probe cluster a packet leaving now belongs to (0: none).
func (s *sendSide) probeCluster(h *rtp.Header) uint8 {
	if !h.Padding {
		return 0
	}
	return uint8(s.cluster.Load()) //nolint:gosec // G115: ids are 8 bits (nextCluster)
}

// nextCluster is a new probe cluster id, never 0.
func (s *sendSide) nextCluster() uint8 {
	for {
		if id := uint8(s.lastCluster.Add(1)); id != 0 {
			return id
		}
	}
}

// sendSideFactory makes one sendSide per viewer connection and hands it to onNew within
// NewPeerConnection.
type sendSideFactory struct {
	metrics *Metrics
	onNew   func(*sendSide)
}

func (f sendSideFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	s := &sendSide{
		est:   bwe.New(bwe.Config{Initial: initialEstimate, Min: minEstimate, Max: maxEstimate}),
		pacer: newPacer(f.metrics),
	}
	f.onNew(s)
	return s, nil
}

const (
	minEstimate = 50_000
	maxEstimate = 50_000_000
)

func (s *sendSide) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			id = uint8(e.ID)
		}
	}
	if id == 0 {
		return w
	}
	s.paced.Store(true)
	rtx := info.SSRCRetransmission
	write := interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		tseq, ok := s.stamp(id, h, len(payload))
		// A resend on the RTX stream begins with the packet's own sequence number;
		// padding (probes) carries none.
		if ok && rtx != 0 && h.SSRC == rtx && !h.Padding && len(payload) >= 2 {
			s.deliveries.resent(tseq, rtx, binary.BigEndian.Uint16(payload))
		}
		return w.Write(h, payload, a)
	})
	s.pacer.AddStream(info.SSRC, write)
	if rtx != 0 {
		// The stream's resends and padding go out on its RTX SSRC through the same
		// binding (pion binds only the media stream).
		s.pacer.AddStream(rtx, write)
	}
	return s.pacer
}

// stamp numbers a packet as it leaves. The down track reserves the extension's two
// bytes in every packet it writes (under its own lock, which it holds through the
// write, or in the pacer's copy), so the number is written in place.
func (s *sendSide) stamp(id uint8, h *rtp.Header, payload int) (uint16, bool) {
	v := h.GetExtension(id)
	if len(v) != 2 {
		v = make([]byte, 2)
		if err := h.SetExtension(id, v); err != nil {
			return 0, false
		}
	}
	// Media never carries padding: only padding asks whether a probe is being sent.
	var seq uint16
	if id := s.probeCluster(h); id != 0 {
		seq = s.est.SentProbe(h.MarshalSize()+payload, time.Now(), id)
	} else {
		seq = s.est.Sent(h.MarshalSize()+payload, time.Now())
	}
	binary.BigEndian.PutUint16(v, seq)
	return seq, true
}

func (s *sendSide) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := r.Read(b, a)
		if err != nil {
			return n, a, err
		}
		eachRTCP(b[:n], func(pkt []byte) {
			if !isTWCC(pkt) {
				return
			}
			now := time.Now()
			s.est.Feedback(pkt, now)
			s.pacer.SetTargetBitrate(s.est.Stats().Bitrate)
			s.deliveries.feedback(pkt, now.UnixNano())
		})
		return n, a, nil
	})
}

func (s *sendSide) Close() error { return s.pacer.Close() }

// eachRTCP calls f with each packet of a compound RTCP packet, without parsing them.
func eachRTCP(b []byte, f func(pkt []byte)) {
	for len(b) >= 4 {
		size := (int(binary.BigEndian.Uint16(b[2:4])) + 1) * 4
		if size > len(b) {
			return
		}
		f(b[:size])
		b = b[size:]
	}
}

// isTWCC says an RTCP packet is transport-wide congestion control feedback.
func isTWCC(pkt []byte) bool {
	return len(pkt) >= 4 && rtcp.PacketType(pkt[1]) == rtcp.TypeTransportSpecificFeedback &&
		pkt[0]&0x1f == rtcp.FormatTCC
}
