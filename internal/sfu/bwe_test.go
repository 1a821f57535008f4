package sfu

import (
	"sync"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/poll"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// recordingWriter stands in for a stream's writer below the pacer.
type recordingWriter struct {
	mu   sync.Mutex
	seqs []uint16
	at   []time.Time
	exts [][]byte
}

func (w *recordingWriter) Write(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seqs = append(w.seqs, h.SequenceNumber)
	w.at = append(w.at, time.Now())
	w.exts = append(w.exts, append([]byte(nil), h.GetExtension(1)...))
	return len(payload), nil
}

func (w *recordingWriter) snapshot() ([]uint16, []time.Time, [][]byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]uint16(nil), w.seqs...), append([]time.Time(nil), w.at...), append([][]byte(nil), w.exts...)
}

// A burst beyond the bucket is queued and sent at the pacing rate, in order, with the
// header extensions it was written with even though the caller reuses its buffers.
func TestPacerSmoothsBursts(t *testing.T) {
	p := newPacer(NewMetrics(nil))
	defer p.Close()
	p.SetTargetBitrate(400_000) // paced at 1 Mbit/s: 125 kB/s, a 20 KiB bucket
	w := &recordingWriter{}
	p.AddStream(1, w)
	payload := make([]byte, 1000)
	var h rtp.Header
	ext := []byte{0}
	start := time.Now()
	const burst = 100 // 100 kB: the bucket takes about 20, the rest waits
	for i := 0; i < burst; i++ {
		h = rtp.Header{Version: 2, SSRC: 1, SequenceNumber: uint16(i)}
		ext[0] = byte(i)
		_ = h.SetExtension(1, ext) // the caller's buffer, rewritten for the next packet
		if _, err := p.Write(&h, payload, nil); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Fatalf("writing the burst blocked the caller for %v", took)
	}
	poll.Until(t, 3*time.Second, "the whole burst sent", func() error {
		seqs, _, _ := w.snapshot()
		return poll.Want(len(seqs) == burst, "%d of %d packets", len(seqs), burst)
	})
	seqs, at, exts := w.snapshot()
	for i, s := range seqs {
		if s != uint16(i) || len(exts[i]) != 1 || exts[i][0] != byte(i) {
			t.Fatalf("packet %d went out as seq %d with extension %v", i, s, exts[i])
		}
	}
	// About 80 kB beyond the bucket at 125 kB/s: the last leaves after ~0.6 s.
	if spread := at[len(at)-1].Sub(at[0]); spread < 400*time.Millisecond || spread > 1500*time.Millisecond {
		t.Errorf("the burst left over %v, want about 0.6s at the pacing rate", spread)
	}
}

// A queue holding a second of media drops what comes on top, as a full link would.
func TestPacerDropsBeyondASecond(t *testing.T) {
	m := NewMetrics(nil)
	p := newPacer(m)
	defer p.Close()
	p.SetTargetBitrate(8_000) // 2.5 kB/s: the bucket is the 20 KiB minimum
	p.AddStream(1, &recordingWriter{})
	payload := make([]byte, 1000)
	for i := 0; i < 200; i++ {
		h := rtp.Header{Version: 2, SSRC: 1, SequenceNumber: uint16(i)}
		_, _ = p.Write(&h, payload, nil)
	}
	p.mu.Lock()
	queued := p.queued
	p.mu.Unlock()
	if queued > 4_000 {
		t.Errorf("%d bytes queued at 2.5 kB/s, want at most about a second's worth", queued)
	}
	if d := testutil.ToFloat64(m.PacerDrops); d < 150 {
		t.Errorf("%v drops counted, want the packets beyond the bucket and the queue", d)
	}
}

// A retransmission on the RTX SSRC, which the estimator never registered, goes down a
// bound stream's writer instead of failing.
func TestPacerRoutesUnknownSSRC(t *testing.T) {
	p := newPacer(NewMetrics(nil))
	defer p.Close()
	w := &recordingWriter{}
	p.AddStream(1, w)
	h := rtp.Header{Version: 2, SSRC: 99, SequenceNumber: 7}
	if _, err := p.Write(&h, []byte{1, 2, 3}, nil); err != nil {
		t.Fatal(err)
	}
	if seqs, _, _ := w.snapshot(); len(seqs) != 1 || seqs[0] != 7 {
		t.Fatalf("RTX packet not routed: %v", seqs)
	}
}
