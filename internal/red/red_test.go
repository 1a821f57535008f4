package red

import (
	"bytes"
	"errors"
	"testing"
)

// A payload as Chromium sends Opus with one earlier frame (RFC 2198 §3's layout).
func TestParseBrowserPayload(t *testing.T) {
	prev, cur := []byte{0xfc, 1, 2, 3}, []byte{0xfc, 9, 8}
	payload := append([]byte{0x80 | 111, byte(960 >> 6), byte(960 << 2 & 0xff), byte(len(prev)), 111}, prev...)
	payload = append(payload, cur...)
	blocks, err := Parse(payload, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 2 || blocks[0].PT != 111 || blocks[0].TSOffset != 960 || !bytes.Equal(blocks[0].Data, prev) ||
		blocks[1].PT != 111 || blocks[1].TSOffset != 0 || !bytes.Equal(blocks[1].Data, cur) {
		t.Fatalf("blocks %+v", blocks)
	}
	pt, primary, err := Primary(payload)
	if err != nil || pt != 111 || !bytes.Equal(primary, cur) {
		t.Fatalf("primary %d %x %v", pt, primary, err)
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	for name, p := range map[string][]byte{
		"empty":               {},
		"headers only":        {0x80 | 111, 0, 0, 4},
		"block past the end":  {0x80 | 111, 0, 0, 9, 111, 1, 2},
		"header cut short":    {0x80 | 111, 0},
		"length past the end": {0x80 | 111, 0, 3, 0xff, 111, 1},
	} {
		if _, err := Parse(p, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Parse = %v", name, err)
		}
		if _, _, err := Primary(p); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Primary = %v", name, err)
		}
	}
	// A primary alone (one header byte) is well formed, and may be empty.
	if b, err := Parse([]byte{111}, nil); err != nil || len(b) != 1 || len(b[0].Data) != 0 {
		t.Fatalf("primary alone: %+v %v", b, err)
	}
}

// The encoder carries the two packets before each one, and only those: a gap in the
// sequence, a reordered packet, a timestamp out of the format's reach or a frame too
// long leave the blocks out; what it carries parses back to the frames it was given.
func TestEncoder(t *testing.T) {
	frame := func(seq uint16) []byte { return bytes.Repeat([]byte{byte(seq)}, 20+int(seq)%7) }
	type step struct {
		seq  uint16
		ts   uint32
		want []uint16 // the earlier packets carried, oldest first
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{1, 960, nil}, {2, 1920, []uint16{1}}, {3, 2880, []uint16{1, 2}}, {4, 3840, []uint16{2, 3}}}},
		{"wrapping", []step{{65534, 1 << 31, nil}, {65535, 1<<31 + 960, []uint16{65534}}, {0, 1<<31 + 1920, []uint16{65534, 65535}}}},
		{"a packet lost", []step{{1, 960, nil}, {2, 1920, []uint16{1}}, {4, 3840, []uint16{2}}, {5, 4800, []uint16{4}}}},
		{"reordered", []step{{1, 960, nil}, {3, 2880, []uint16{1}}, {2, 1920, nil}, {4, 3840, []uint16{3}}}},
		{"after silence (DTX)", []step{{1, 960, nil}, {2, 960 + 20000, nil}, {3, 960 + 20960, []uint16{2}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var e Encoder
			tsOf := map[uint16]uint32{}
			for _, s := range c.steps {
				tsOf[s.seq] = s.ts
				out := e.Encode(s.seq, s.ts, 111, frame(s.seq))
				blocks, err := Parse(out, nil)
				if err != nil {
					t.Fatalf("seq %d: %v", s.seq, err)
				}
				if len(blocks) != len(s.want)+1 {
					t.Fatalf("seq %d: %d blocks, want %d earlier ones", s.seq, len(blocks), len(s.want))
				}
				for i, w := range s.want {
					if !bytes.Equal(blocks[i].Data, frame(w)) || blocks[i].TSOffset != s.ts-tsOf[w] || blocks[i].PT != 111 {
						t.Fatalf("seq %d block %d: %+v, want packet %d", s.seq, i, blocks[i], w)
					}
				}
				if p := blocks[len(blocks)-1]; !bytes.Equal(p.Data, frame(s.seq)) || p.TSOffset != 0 {
					t.Fatalf("seq %d primary %+v", s.seq, p)
				}
			}
		})
	}
}

func TestEncoderBounds(t *testing.T) {
	var e Encoder
	big := bytes.Repeat([]byte{7}, 600)
	e.Encode(1, 960, 111, big)
	e.Encode(2, 1920, 111, big)
	out := e.Encode(3, 2880, 111, big)
	if len(out) > MaxPayload {
		t.Fatalf("%d bytes, bound %d", len(out), MaxPayload)
	}
	blocks, err := Parse(out, nil)
	if err != nil || len(blocks) != 1 {
		t.Fatalf("two 600-byte frames cannot ride along: %d blocks, %v", len(blocks), err)
	}
	if e.Encode(4, 3840, 111, make([]byte, MaxPayload)) != nil {
		t.Fatal("a primary over the bound encoded")
	}
	e.Reset()
	if blocks, _ := Parse(e.Encode(5, 4800, 111, []byte{1}), nil); len(blocks) != 1 {
		t.Fatal("frames kept across a reset")
	}
}

func TestSetPT(t *testing.T) {
	var e Encoder
	e.Encode(1, 960, 111, []byte{1})
	out := e.Encode(2, 1920, 111, []byte{2})
	SetPT(out, 109)
	blocks, err := Parse(out, nil)
	if err != nil || len(blocks) != 2 || blocks[0].PT != 109 || blocks[1].PT != 109 || blocks[0].TSOffset != 960 {
		t.Fatalf("%+v %v", blocks, err)
	}
}

// Any payload: Parse and Primary never panic and agree; what parses has blocks inside
// the payload; an encoded payload parses back to what went in.
func FuzzParse(f *testing.F) {
	f.Add([]byte{0x80 | 111, 0x0f, 0x00, 0x02, 111, 1, 2, 3})
	f.Add([]byte{111})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, p []byte) {
		blocks, err := Parse(p, nil)
		pt, primary, perr := Primary(p)
		if (err == nil) != (perr == nil) {
			t.Fatalf("Parse %v, Primary %v", err, perr)
		}
		if err != nil {
			return
		}
		last := blocks[len(blocks)-1]
		if last.PT != pt || !bytes.Equal(last.Data, primary) {
			t.Fatalf("primary %d %x, Parse's %+v", pt, primary, last)
		}
		var e Encoder
		if len(p) < MaxPayload {
			e.Encode(1, 960, 96, []byte{42})
			out := e.Encode(2, 1920, 96, p)
			got, err := Parse(out, nil)
			if err != nil || !bytes.Equal(got[len(got)-1].Data, p) {
				t.Fatalf("encoded %x: %+v %v", p, got, err)
			}
		}
	})
}

// What the node spends per audio packet of a track with a RED viewer (once per packet,
// whatever the number of viewers), and per plain viewer of a RED track.
func BenchmarkEncode(b *testing.B) {
	var e Encoder
	frame := bytes.Repeat([]byte{0xfc}, 120) // 48 kbit/s Opus
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.Encode(uint16(i), uint32(i)*960, 111, frame)
	}
}

func BenchmarkPrimary(b *testing.B) {
	var e Encoder
	e.Encode(1, 960, 111, bytes.Repeat([]byte{1}, 120))
	e.Encode(2, 1920, 111, bytes.Repeat([]byte{2}, 120))
	payload := append([]byte(nil), e.Encode(3, 2880, 111, bytes.Repeat([]byte{3}, 120))...)
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = Primary(payload)
	}
}
