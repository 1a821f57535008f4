package recording

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/livegate/livegate/internal/sfu"
)

// vp8Frame is a VP8 RTP payload: the payload descriptor (start of a partition) and a
// frame whose header says keyframe (with its size) or not.
func vp8Frame(key bool) []byte {
	if key {
		return []byte{0x10, 0x50, 0x2a, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, 0xaa, 0xbb}
	}
	return []byte{0x10, 0x51, 0x2a, 0x00, 0xcc, 0xdd}
}

type feed struct {
	p    *part
	seq  [2]uint16
	base time.Time
}

// send hands the part one packet of track at the stream's millisecond ms, as the SFU would.
func (f *feed) send(track int, ms int64, payload []byte) {
	clock := uint32(90)
	if track == 1 {
		clock = 48
	}
	h := &rtp.Header{Version: 2, Marker: true, SequenceNumber: f.seq[track], Timestamp: 1000 + uint32(ms)*clock, SSRC: uint32(track + 1)}
	f.seq[track]++
	pk := packet{track: track, at: f.base.Add(time.Duration(ms) * time.Millisecond)}
	pk.pkt.Header = *h
	pk.pkt.Payload = payload
	f.p.in <- pk
}

func TestPartIsAPlayableWebM(t *testing.T) {
	path := filepath.Join(t.TempDir(), "part.webm")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	asked := 0
	p := newPart(f, []sfu.TrackInfo{{Kind: "video", MimeType: "video/VP8", ClockRate: 90000},
		{Kind: "audio", MimeType: "audio/opus", ClockRate: 48000, Channels: 2}}, func() { asked++ }, NewMetrics(nil), discard())
	fd := &feed{p: p, base: time.Now()}
	// An inter frame before any keyframe (joined mid-GOP) is dropped, and a keyframe asked for.
	fd.send(0, 0, vp8Frame(false))
	for ms := int64(40); ms <= 3040; ms += 40 {
		fd.send(0, ms, vp8Frame(ms%1000 == 40))
		fd.send(1, ms, []byte{0xfc, 0x01, 0x02})
		fd.send(1, ms+20, []byte{0xfc, 0x03, 0x04})
	}
	p.Stop()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Probe(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Codecs) != 2 || s.Codecs[0] != "V_VP8" || s.Codecs[1] != "A_OPUS" || s.Width != 640 || s.Height != 480 {
		t.Errorf("tracks: %+v", s)
	}
	// The sample builder holds the newest frame of each track until the next one comes, and
	// flushes it at the end: every video frame from the first keyframe on is there.
	if s.Blocks["V_VP8"] != 76 || s.Blocks["A_OPUS"] < 150 {
		t.Errorf("blocks: %v, want 76 video frames and about 152 audio packets", s.Blocks)
	}
	if s.DurationMS < 2900 || s.DurationMS > 3100 || !s.Indexed || s.Truncated {
		t.Errorf("a finished part: %+v, want about 3000 ms, indexed", s)
	}
	if asked == 0 {
		t.Error("no keyframe was asked for while the part waited for one")
	}
	// A part cut short (a crash) reads up to where it stops: here two thirds into the
	// media, after the space reserved for the index.
	cut, err := Probe(bytes.NewReader(b[:len(b)-(len(b)-cuesReserve)/3]))
	if err != nil || !cut.Truncated || cut.Blocks["V_VP8"] < 30 || cut.Blocks["V_VP8"] >= 76 {
		t.Errorf("a part cut at two thirds of its media: %+v %v", cut, err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A preview is the part's first seconds, cut at the first frame after them: what the cut
// keeps reads as a WebM that plays that long.
func TestCutAfterKeepsTheFirstSeconds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "part.webm")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	p := newPart(f, []sfu.TrackInfo{{Kind: "video", MimeType: "video/VP8", ClockRate: 90000},
		{Kind: "audio", MimeType: "audio/opus", ClockRate: 48000, Channels: 2}}, func() {}, NewMetrics(nil), discard())
	fd := &feed{p: p, base: time.Now()}
	for ms := int64(0); ms <= 6000; ms += 40 {
		fd.send(0, ms, vp8Frame(ms%1000 == 0)) // a keyframe a second: a cluster a second
		fd.send(1, ms, []byte{0xfc, 0x01, 0x02})
	}
	p.Stop()
	b, _ := os.ReadFile(path)
	for _, tc := range []struct{ previewMS, atLeast, atMost int64 }{{2500, 2440, 2500}, {0, 0, 0}, {10000, 6000, 6100}} {
		cut, err := CutAfter(bytes.NewReader(b), int64(len(b)), tc.previewMS)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Probe(bytes.NewReader(b[:cut]))
		if err != nil {
			t.Fatal(err)
		}
		if s.DurationMS < tc.atLeast || s.DurationMS > tc.atMost {
			t.Errorf("a preview of %d ms plays %d ms, want %d to %d", tc.previewMS, s.DurationMS, tc.atLeast, tc.atMost)
		}
	}
}

// BenchmarkRecordPacket is what recording costs per RTP packet on the part's goroutine
// (depacketizing, muxing, writing to a file): one VP8 frame of three packets and an Opus
// packet per iteration.
func BenchmarkRecordPacket(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "part.webm"))
	if err != nil {
		b.Fatal(err)
	}
	// The benchmark drives the part's handler itself, on its own goroutine.
	p := makePart(f, []sfu.TrackInfo{{Kind: "video", MimeType: "video/VP8", ClockRate: 90000},
		{Kind: "audio", MimeType: "audio/opus", ClockRate: 48000, Channels: 2}}, func() {}, NewMetrics(nil), discard())
	payload := make([]byte, 1100)
	copy(payload, vp8Frame(true))
	base := time.Now()
	var seq [2]uint16
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ms := int64(i) * 33
		for k := 0; k < 3; k++ {
			pk := packet{track: 0, at: base.Add(time.Duration(ms) * time.Millisecond)}
			pk.pkt.Header = rtp.Header{Version: 2, Marker: k == 2, SequenceNumber: seq[0], Timestamp: uint32(ms) * 90}
			seq[0]++
			if k == 0 {
				pk.pkt.Payload = vp8Frame(i%60 == 0)
			} else {
				pk.pkt.Payload = payload[:1000]
				pk.pkt.Payload[0] = 0x00 // a continuation of the partition
			}
			p.handle(pk)
		}
		pk := packet{track: 1, at: base.Add(time.Duration(ms) * time.Millisecond)}
		pk.pkt.Header = rtp.Header{Version: 2, Marker: true, SequenceNumber: seq[1], Timestamp: uint32(ms) * 48}
		seq[1]++
		pk.pkt.Payload = []byte{0xfc, 0x01, 0x02}
		p.handle(pk)
	}
	b.StopTimer()
	p.finish()
	if p.fatal != nil || !p.started {
		b.Fatalf("the part did not record: %v", p.fatal)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(4*b.N), "ns/packet")
}

// keyframeEncoder is a test encoder: the next frame is a keyframe when asked for one,
// unless it ignores requests (as an encoder with a long fixed interval does).
// ask runs on the part's writer goroutine, key on the test's.
type keyframeEncoder struct {
	ignore bool
	want   atomic.Bool
	asked  atomic.Int64
}

func (e *keyframeEncoder) ask() {
	e.asked.Add(1)
	if !e.ignore {
		e.want.Store(true)
	}
}

func (e *keyframeEncoder) key(ms int64) bool { return e.want.Swap(false) || ms == 0 }

// stapA is an H.264 RTP payload aggregating NAL units (RFC 6184 5.7.1).
func stapA(nalus ...[]byte) []byte {
	b := []byte{0x18}
	for _, n := range nalus {
		b = append(b, byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

// parameterSets are the SPS and PPS of the clip the end-to-end tests publish.
func parameterSets(t *testing.T) (sps, pps []byte) {
	t.Helper()
	b, err := os.ReadFile("../e2e/testdata/clip.h264")
	if err != nil {
		t.Fatal(err)
	}
	au, err := annexB(b[:min(len(b), 4096)])
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range au {
		switch n[0] & 0x1f {
		case 7:
			sps = n
		case 8:
			pps = n
		}
	}
	if sps == nil || pps == nil {
		t.Fatal("no SPS and PPS in the clip's first bytes")
	}
	return sps, pps
}

// recordShow writes a 24 s part (a frame every 40 ms, Opus every 20 ms) from enc: what a
// WebRTC encoder sends when it sends keyframes only when asked, or never again.
func recordShow(t *testing.T, mime string, enc *keyframeEncoder) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "part")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	p := newPart(f, []sfu.TrackInfo{{Kind: "video", MimeType: mime, ClockRate: 90000},
		{Kind: "audio", MimeType: "audio/opus", ClockRate: 48000, Channels: 2}}, enc.ask, NewMetrics(nil), discard())
	fd := &feed{p: p, base: time.Now()}
	var sps, pps []byte
	if mime == "video/H264" {
		sps, pps = parameterSets(t)
	}
	for ms := int64(0); ms <= 24_000; ms += 20 {
		if ms%40 == 0 {
			key := enc.key(ms)
			frame := vp8Frame(key)
			if sps != nil {
				frame = []byte{0x41, 0x9a, 0x01, 0x02} // a non-IDR slice
				if key {
					frame = stapA(sps, pps, []byte{0x65, 0x88, 0x84, 0x00})
				}
			}
			fd.send(0, ms, frame)
		}
		fd.send(1, ms, []byte{0xfc, 0x01, 0x02})
		// The writer runs on its own goroutine: let it take each frame (and ask for a
		// keyframe) before the encoder makes the next, as real time would.
		for len(p.in) > 0 {
			time.Sleep(50 * time.Microsecond)
		}
	}
	p.Stop()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A preview never plays past its time plus a second, whatever the encoder's keyframe
// interval: with an encoder that sent one keyframe for a 24 s show, and with one that
// answers the recorder's requests (then keyframes come at most 2 s apart, for seeks).
func TestPreviewCutWhateverTheKeyframeInterval(t *testing.T) {
	for _, mime := range []string{"video/VP8", "video/H264"} {
		for _, ignore := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/ignores-requests=%v", mime, ignore), func(t *testing.T) {
				enc := &keyframeEncoder{ignore: ignore}
				b := recordShow(t, mime, enc)
				whole, err := Probe(bytes.NewReader(b))
				if err != nil || whole.DurationMS < 23_900 || whole.Truncated {
					t.Fatalf("the whole part: %+v %v", whole, err)
				}
				if n := enc.asked.Load(); n < 8 {
					t.Errorf("the recorder asked for %d keyframes in 24 s, want one at least every 2 s", n)
				}
				if !ignore {
					gap := int64(0)
					for i := 1; i < len(whole.KeyframesMS); i++ {
						gap = max(gap, whole.KeyframesMS[i]-whole.KeyframesMS[i-1])
					}
					if last := whole.KeyframesMS[len(whole.KeyframesMS)-1]; gap > 2000 || whole.DurationMS-last > 2000 {
						t.Errorf("keyframes at %v ms: at most %d ms apart, want 2000", whole.KeyframesMS, gap)
					}
				}
				for _, previewMS := range []int64{0, 5000, 12_345} {
					cut, err := CutAfter(bytes.NewReader(b), int64(len(b)), previewMS)
					if err != nil {
						t.Fatal(err)
					}
					s, err := Probe(bytes.NewReader(b[:cut]))
					if err != nil {
						t.Fatalf("the %d ms preview does not parse: %v", previewMS, err)
					}
					total := s.Blocks[whole.Codecs[0]] + s.Blocks["A_OPUS"]
					if s.DurationMS > previewMS+1000 || cut >= int64(len(b)) || total == 0 {
						t.Errorf("a %d ms preview: %d of %d bytes, playing %d ms (%d frames), want at most %d ms",
							previewMS, cut, len(b), s.DurationMS, total, previewMS+1000)
					}
					if previewMS > 0 && s.DurationMS < previewMS-1000 {
						t.Errorf("a %d ms preview plays only %d ms", previewMS, s.DurationMS)
					}
				}
			})
		}
	}
}
