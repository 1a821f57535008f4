package sfu

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// packetKeeper keeps each packet written.
type packetKeeper struct{ pkts []rtp.Packet }

func (w *packetKeeper) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	p := rtp.Packet{Header: *h, Payload: append([]byte(nil), payload...)}
	p.Header.Extensions = append([]rtp.Extension(nil), h.Extensions...)
	w.pkts = append(w.pkts, p)
	return len(payload), nil
}
func (w *packetKeeper) Write(b []byte) (int, error) { return len(b), nil }

// A probe's padding goes on the viewer's RTX stream, padding-only packets that a
// receiver parses as such (and drops), numbered on with the RTX stream's sequence and
// carrying the transport-wide slot the estimator stamps; no RTX stream, no padding.
func TestPaddingGoesOnTheRTXStream(t *testing.T) {
	r := benchRoom()
	f := &receiver{room: r, kind: webrtc.RTPCodecTypeVideo, mime: "video/vp8", cache: newPacketCache(1024)}
	w := &packetKeeper{}
	d := newDownTrack(&Subscriber{room: r}, []*receiver{f})
	d.kind = webrtc.RTPCodecTypeVideo
	d.bound, d.active, d.cur, d.ws, d.ssrc, d.pt = true, true, 0, w, 7, 96
	d.ext.twcc = 3
	d.munger.start(1000, 5000)
	d.started = true

	if n := d.pad(3000); n != 0 || len(w.pkts) != 0 {
		t.Fatalf("without RTX: %d bytes, %d packets of padding", n, len(w.pkts))
	}
	d.rtx, d.rtxSSRC, d.rtxPT, d.rtxSeq = true, 8, 97, 100
	n := d.pad(1000)
	if len(w.pkts) != 3 || n < 3*padBytes || n > 1000 {
		t.Fatalf("1000 bytes asked: %d packets, %d bytes", len(w.pkts), n)
	}
	for i, p := range w.pkts {
		// As the SRTP session puts it on the wire: the header, then the payload.
		raw, err := p.Header.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, p.Payload...)
		var got rtp.Packet
		if err := got.Unmarshal(raw); err != nil {
			t.Fatalf("packet %d does not parse: %v", i, err)
		}
		if got.SSRC != 8 || got.PayloadType != 97 || got.SequenceNumber != uint16(101+i) || got.Timestamp != d.munger.lastTS {
			t.Errorf("packet %d: ssrc %d pt %d seq %d ts %d", i, got.SSRC, got.PayloadType, got.SequenceNumber, got.Timestamp)
		}
		if !got.Padding || len(got.Payload) != 0 || got.PaddingSize != padBytes {
			t.Errorf("packet %d: padding %v, payload %d bytes, padding size %d: want padding only", i, got.Padding, len(got.Payload), got.PaddingSize)
		}
		if len(got.GetExtension(3)) != 2 {
			t.Errorf("packet %d has no transport-wide sequence number slot", i)
		}
	}
}
