package sfu

import (
	"bytes"
	"testing"

	"github.com/livegate/livegate/internal/vpx"
)

// vp8Payload builds a VP8 payload with a picture id (15 bits when wide, else 7; none
// when pic < 0) and a TL0PICIDX (none when tl0 < 0), then two bytes of frame.
func vp8Payload(pic int, wide bool, tl0 int) []byte {
	p := []byte{0x90, 0}
	if pic >= 0 {
		p[1] |= 0x80
		p = appendPic(p, pic, wide)
	}
	if tl0 >= 0 {
		p[1] |= 0x40
		p = append(p, byte(tl0))
	}
	return append(p, 0x9d, 0x01)
}

// vp9Payload builds the same in a VP9 payload descriptor (non-flexible mode, the layer
// indices before TL0PICIDX), then two bytes of frame.
func vp9Payload(pic int, wide bool, tl0 int) []byte {
	p := []byte{0x08 | 0x04} // B and E: a whole frame in one packet
	if pic >= 0 {
		p[0] |= 0x80
		p = appendPic(p, pic, wide)
	}
	if tl0 >= 0 {
		p[0] |= 0x20
		p = append(p, 0x00, byte(tl0))
	}
	return append(p, 0x82, 0x49)
}

// appendPic appends a picture id of 15 bits (M set) or 7.
func appendPic(p []byte, pic int, wide bool) []byte {
	if wide {
		return append(p, 0x80|byte(pic>>8), byte(pic))
	}
	return append(p, byte(pic&0x7f))
}

func readPic(t *testing.T, m *picMunger, p []byte) (pic, tl0 int) {
	t.Helper()
	pic, tl0, ok := vpx.Read(p, m.vp9)
	if !ok {
		t.Fatalf("unparsable payload % x", p)
	}
	return pic, tl0
}

func TestPicMunger(t *testing.T) {
	type pkt struct {
		pic, tl0 int
		rebase   bool // a source change before it (a layer switch, an encoder back)
		fresh    bool
		wantPic  int
		wantTl0  int
	}
	tests := []struct {
		name string
		wide bool
		pkts []pkt
	}{
		{"one source: unchanged", true, []pkt{
			{pic: 100, tl0: 7, fresh: true, wantPic: 100, wantTl0: 7},
			{pic: 100, tl0: 7, fresh: true, wantPic: 100, wantTl0: 7}, // the same frame's next packet
			{pic: 101, tl0: 8, fresh: true, wantPic: 101, wantTl0: 8},
		}},
		{"a switch up continues the numbering", true, []pkt{
			{pic: 100, tl0: 7, fresh: true, wantPic: 100, wantTl0: 7},
			{pic: 101, tl0: 8, fresh: true, wantPic: 101, wantTl0: 8},
			{pic: 5000, tl0: 200, rebase: true, fresh: true, wantPic: 102, wantTl0: 9},
			{pic: 5001, tl0: 201, fresh: true, wantPic: 103, wantTl0: 10},
			{pic: 5000, tl0: 200, fresh: false, wantPic: 102, wantTl0: 9}, // a retransmission
			{pic: 5002, tl0: 202, fresh: true, wantPic: 104, wantTl0: 11},
			{pic: 30, tl0: 3, rebase: true, fresh: true, wantPic: 105, wantTl0: 12}, // and back down
		}},
		{"wraps at 15 bits and 8 bits", true, []pkt{
			{pic: 0x7ffe, tl0: 254, fresh: true, wantPic: 0x7ffe, wantTl0: 254},
			{pic: 0x7fff, tl0: 255, fresh: true, wantPic: 0x7fff, wantTl0: 255},
			{pic: 12, tl0: 40, rebase: true, fresh: true, wantPic: 0, wantTl0: 0},
			{pic: 13, tl0: 41, fresh: true, wantPic: 1, wantTl0: 1},
		}},
		{"7-bit picture ids", false, []pkt{
			{pic: 126, tl0: -1, fresh: true, wantPic: 126, wantTl0: -1},
			{pic: 127, tl0: -1, fresh: true, wantPic: 127, wantTl0: -1},
			{pic: 50, tl0: -1, rebase: true, fresh: true, wantPic: 0, wantTl0: -1},
			{pic: 51, tl0: -1, fresh: true, wantPic: 1, wantTl0: -1},
		}},
		{"no picture id: left alone", true, []pkt{
			{pic: -1, tl0: -1, fresh: true, wantPic: -1, wantTl0: -1},
			{pic: -1, tl0: -1, rebase: true, fresh: true, wantPic: -1, wantTl0: -1},
		}},
	}
	for _, codec := range []struct {
		name    string
		vp9     bool
		payload func(pic int, wide bool, tl0 int) []byte
	}{{"VP8", false, vp8Payload}, {"VP9", true, vp9Payload}} {
		for _, tt := range tests {
			t.Run(codec.name+"/"+tt.name, func(t *testing.T) {
				m := picMunger{vp9: codec.vp9}
				m.rebase()
				var buf [maxPacket]byte
				for i, p := range tt.pkts {
					if p.rebase {
						m.rebase()
					}
					in := codec.payload(p.pic, tt.wide, p.tl0)
					orig := bytes.Clone(in)
					out := m.rewrite(in, buf[:], p.fresh)
					if !bytes.Equal(in, orig) {
						t.Fatalf("packet %d: the shared payload was changed", i)
					}
					pic, tl0 := readPic(t, &m, out)
					if pic != p.wantPic || tl0 != p.wantTl0 {
						t.Errorf("packet %d (pic %d, tl0 %d): got %d, %d, want %d, %d", i, p.pic, p.tl0, pic, tl0, p.wantPic, p.wantTl0)
					}
					if !bytes.Equal(out[len(out)-2:], orig[len(orig)-2:]) {
						t.Errorf("packet %d: the frame's bytes changed", i)
					}
				}
			})
		}
	}
}

// Whatever a payload holds, VP8 or VP9, rewrite neither panics nor changes its length or anything
// but the picture id and TL0PICIDX bytes, nor writes the shared payload.
func FuzzPicMunger(f *testing.F) {
	f.Add(vp8Payload(300, true, 5), byte(0))
	f.Add(vp8Payload(3, false, -1), byte(1))
	f.Add([]byte{0x80}, byte(2))
	f.Add([]byte{0x80, 0xc0, 0x80}, byte(3))
	f.Add(vp9Payload(300, true, 5), byte(0))
	f.Add([]byte{0xb0, 0x80}, byte(1))
	f.Fuzz(func(t *testing.T, p []byte, ops byte) {
		for _, vp9 := range []bool{false, true} {
			fuzzPicMunger(t, picMunger{vp9: vp9}, p, ops)
		}
	})
}

func fuzzPicMunger(t *testing.T, m picMunger, p []byte, ops byte) {
	t.Helper()
	var buf [maxPacket]byte
	for i := range 4 {
		if ops>>i&1 != 0 {
			m.rebase()
		}
		orig := bytes.Clone(p)
		out := m.rewrite(p, buf[:], ops>>(4+i)&1 == 0)
		if !bytes.Equal(p, orig) {
			t.Fatal("the shared payload was changed")
		}
		if len(out) != len(p) {
			t.Fatalf("length %d, want %d", len(out), len(p))
		}
		d, ok := vpx.Parse(p, m.vp9)
		for j := range p {
			field := ok && ((d.Pic != 0 && (j == d.Pic || (d.Wide && j == d.Pic+1))) || (d.Tl0 != 0 && j == d.Tl0))
			if !field && out[j] != p[j] {
				t.Fatalf("byte %d changed: % x -> % x", j, p, out)
			}
		}
	}
}
