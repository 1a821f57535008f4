package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// countingWriter stands in for a viewer's SRTP stream; it only counts.
type countingWriter struct{ n int }

func (w *countingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.n++
	return len(payload), nil
}
func (w *countingWriter) Write(b []byte) (int, error) { return len(b), nil }

func benchRoom() *Room {
	s := &SFU{metrics: NewMetrics(nil), cfg: Config{PLIThrottle: time.Second, PacketCacheSize: 1024}}
	return &Room{sfu: s}
}

// BenchmarkFanout measures livegate's own work per incoming packet for 100 viewers:
// header rewrite and hand-off to each viewer's writer, plus the packet cache. SRTP and
// the socket are pion's and the kernel's (see docs/BENCHMARKS.md for the whole path).
func BenchmarkFanout100(b *testing.B) {
	r := benchRoom()
	f := &receiver{room: r, kind: webrtc.RTPCodecTypeVideo, mime: "video/vp8", cache: newPacketCache(1024)}
	w := &countingWriter{}
	var downs []sink
	for i := 0; i < 100; i++ {
		d := newDownTrack(&Subscriber{room: r}, []*receiver{f})
		d.bound, d.active, d.cur, d.ws, d.ssrc, d.pt = true, true, 0, w, uint32(i), 96
		downs = append(downs, d.layers[0])
	}
	f.sinks.Store(&downs)
	pkt := make([]byte, 1200)
	h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 1}
	hl, _ := h.MarshalTo(pkt)
	pkt[hl], pkt[hl+1] = 0x10, 0x00 // VP8 keyframe start
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	var parsed rtp.Header
	for i := 0; i < b.N; i++ {
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		f.forward(&parsed, pkt)
	}
	if w.n < b.N*100 {
		b.Fatalf("wrote %d packets, want %d", w.n, b.N*100)
	}
}

func BenchmarkPacketCache(b *testing.B) {
	c := newPacketCache(1024)
	pkt := make([]byte, 1200)
	dst := make([]byte, maxPacket)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.put(uint16(i), pkt, 0)
		c.get(uint16(i-100), dst)
	}
}
