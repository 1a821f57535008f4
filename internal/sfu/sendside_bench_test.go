package sfu

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// The send-side cost per packet sent to one viewer: pacing, numbering and recording the
// packet, plus its share of processing the viewer's feedback (one report per 16
// packets, each acknowledging them 1 ms apart). SRTP and the socket are left out; the
// same chain with pion's GCC (what livegate used before internal/bwe) is the reference.

const fbEvery = 16

// feedbackRing is transport-wide feedback for 65,536 packets, marshaled beforehand so the
// receiver's work is not measured.
func feedbackRing(b *testing.B) [][]byte {
	var ring [][]byte
	rec := twcc.NewRecorder(9)
	for j := 0; j < 1<<16; j++ {
		rec.Record(1, uint16(j), int64(j)*1000) // packet j arrives at j ms
		if j%fbEvery != fbEvery-1 {
			continue
		}
		for _, p := range rec.BuildFeedbackPacket() {
			raw, err := p.Marshal()
			if err != nil {
				b.Fatal(err)
			}
			ring = append(ring, raw)
		}
	}
	return ring
}

// benchSendSide sends b.N packets through chain; with resendEvery > 0, every so many
// of them is a resend on the stream's RTX SSRC (2), as the down track writes one.
func benchSendSide(b *testing.B, chain interceptor.Interceptor, slot bool, resendEvery int) {
	ring := feedbackRing(b)
	info := &interceptor.StreamInfo{SSRC: 1, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: 3}}}
	if resendEvery > 0 {
		info.SSRCRetransmission = 2
	}
	sent := 0
	w := chain.BindLocalStream(info, interceptor.RTPWriterFunc(func(_ *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
		sent++
		return len(p), nil
	}))
	var next []byte
	r := chain.BindRTCPReader(interceptor.RTCPReaderFunc(func(buf []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(buf, next), a, nil
	}))
	payload := make([]byte, 1100)
	var twccBuf [2]byte
	var extBuf [4]rtp.Extension
	buf := make([]byte, 1500)
	var h rtp.Header // a field of the down track's, reused
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h = rtp.Header{Version: 2, PayloadType: 96, SSRC: 1, SequenceNumber: uint16(i), Timestamp: uint32(i) * 90}
		if resendEvery > 0 && i%resendEvery == 0 {
			h.SSRC, h.PayloadType = 2, 97
			payload[0], payload[1] = byte(i>>8), byte(i) // the resent packet's number
		}
		h.Extensions = extBuf[:0]
		if slot {
			_ = h.SetExtension(3, twccBuf[:]) // as the down track writes every packet
		}
		if _, err := w.Write(&h, payload, nil); err != nil {
			b.Fatal(err)
		}
		if i%fbEvery == fbEvery-1 {
			next = ring[(i/fbEvery)%len(ring)]
			if _, _, err := r.Read(buf, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	if sent != b.N {
		b.Fatalf("sent %d of %d", sent, b.N)
	}
	_ = chain.Close()
}

// BenchmarkSendSide is livegate's: internal/bwe behind the pacer.
func BenchmarkSendSide(b *testing.B) { benchSendSide(b, unpacedSendSide(b), true, 0) }

// unpacedSendSide is a viewer connection's send side whose pacer never holds a packet:
// what is measured is the path, not the pacing.
func unpacedSendSide(b *testing.B) interceptor.Interceptor {
	var ss *sendSide
	i, err := sendSideFactory{metrics: NewMetrics(nil), onNew: func(s *sendSide) { ss = s }}.NewInterceptor("")
	if err != nil {
		b.Fatal(err)
	}
	ss.pacer.SetTargetBitrate(1 << 40)
	return i
}

// BenchmarkSendSideResends is BenchmarkSendSide with one packet in ten a resend on the
// RTX stream, as at 10% loss: each is recorded for the delivery log (deliveries.go),
// and each feedback report is walked a second time for it.
func BenchmarkSendSideResends(b *testing.B) { benchSendSide(b, unpacedSendSide(b), true, 10) }

// BenchmarkSendSidePionGCC is the same with pion's cc interceptor, its GCC and its
// transport-wide sequence number interceptor.
func BenchmarkSendSidePionGCC(b *testing.B) {
	f, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return gcc.NewSendSideBWE(gcc.SendSideBWEInitialBitrate(initialEstimate), gcc.SendSideBWEPacer(gcc.NewNoOpPacer()))
	})
	if err != nil {
		b.Fatal(err)
	}
	bwe, err := f.NewInterceptor("")
	if err != nil {
		b.Fatal(err)
	}
	seq, _ := twcc.NewHeaderExtensionInterceptor()
	hdr, _ := seq.NewInterceptor("")
	benchSendSide(b, interceptor.NewChain([]interceptor.Interceptor{bwe, hdr}), false, 0)
}
