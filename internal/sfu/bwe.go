package sfu

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// streamRouter stands where pion's GCC keeps its pacer: it hands each packet to the
// writer of its stream, without a queue. Unlike gcc.NoOpPacer it takes no lock per packet
// and sends a stream's retransmissions (their own RTX SSRC, which the estimator never
// registers) down the media stream's writer, which is the same SRTP session.
type streamRouter struct {
	mu      sync.Mutex // serialises AddStream
	writers atomic.Pointer[map[uint32]interceptor.RTPWriter]
	any     atomic.Pointer[interceptor.RTPWriter]
}

func newStreamRouter() *streamRouter {
	r := &streamRouter{}
	empty := map[uint32]interceptor.RTPWriter{}
	r.writers.Store(&empty)
	return r
}

var errNoStream = errors.New("no stream bound yet")

// AddStream implements gcc.Pacer.
func (r *streamRouter) AddStream(ssrc uint32, w interceptor.RTPWriter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.writers.Load()
	next := make(map[uint32]interceptor.RTPWriter, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[ssrc] = w
	r.writers.Store(&next)
	r.any.CompareAndSwap(nil, &w)
}

// Write implements interceptor.RTPWriter.
func (r *streamRouter) Write(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
	if w, ok := (*r.writers.Load())[h.SSRC]; ok {
		return w.Write(h, payload, a)
	}
	if w := r.any.Load(); w != nil {
		return (*w).Write(h, payload, a)
	}
	return 0, errNoStream
}

// SetTargetBitrate implements gcc.Pacer; nothing is queued, so there is nothing to pace.
func (r *streamRouter) SetTargetBitrate(int) {}

// Close implements gcc.Pacer.
func (r *streamRouter) Close() error { return nil }

// mediaReports builds pion's sender-report interceptor so that it sees only each
// stream's media packets. A viewer's retransmissions on its RTX stream go down the media
// stream's writer; counted as media, an old frame's timestamp would be taken for the
// newest and skew the viewer's lip sync.
type mediaReports struct{ inner interceptor.Factory }

func (f mediaReports) NewInterceptor(id string) (interceptor.Interceptor, error) {
	i, err := f.inner.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	return &mediaOnly{Interceptor: i}, nil
}

type mediaOnly struct{ interceptor.Interceptor }

func (m *mediaOnly) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	counted := m.Interceptor.BindLocalStream(info, w)
	ssrc := info.SSRC
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC != ssrc {
			return w.Write(h, payload, a)
		}
		return counted.Write(h, payload, a)
	})
}
