package sfu

import (
	"bytes"
	"testing"
)

// vp8Payload builds a VP8 payload with a picture id (15 bits when wide, else 7; none
// when pic < 0) and a TL0PICIDX (none when tl0 < 0), then two bytes of frame.
func vp8Payload(pic int, wide bool, tl0 int) []byte {
	p := []byte{0x90, 0}
	if pic >= 0 {
		p[1] |= 0x80
		if wide {
			p = append(p, 0x80|byte(pic>>8), byte(pic))
		} else {
			p = append(p, byte(pic&0x7f))
		}
	}
	if tl0 >= 0 {
		p[1] |= 0x40
		p = append(p, byte(tl0))
	}
	return append(p, 0x9d, 0x01)
}

func readPic(t *testing.T, p []byte) (pic, tl0 int) {
	t.Helper()
	at, wide, tl0At, ok := vp8Descriptor(p)
	if !ok {
		t.Fatalf("unparsable payload % x", p)
	}
	pic, tl0 = -1, -1
	if at != 0 {
		pic = int(p[at] & 0x7f)
		if wide {
			pic = pic<<8 | int(p[at+1])
		}
	}
	if tl0At != 0 {
		tl0 = int(p[tl0At])
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m picMunger
			m.rebase()
			var buf [maxPacket]byte
			for i, p := range tt.pkts {
				if p.rebase {
					m.rebase()
				}
				in := vp8Payload(p.pic, tt.wide, p.tl0)
				orig := bytes.Clone(in)
				out := m.rewrite(in, buf[:], p.fresh)
				if !bytes.Equal(in, orig) {
					t.Fatalf("packet %d: the shared payload was changed", i)
				}
				pic, tl0 := readPic(t, out)
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

// Whatever a payload holds, rewrite neither panics nor changes its length or anything
// but the picture id and TL0PICIDX bytes, nor writes the shared payload.
func FuzzPicMunger(f *testing.F) {
	f.Add(vp8Payload(300, true, 5), byte(0))
	f.Add(vp8Payload(3, false, -1), byte(1))
	f.Add([]byte{0x80}, byte(2))
	f.Add([]byte{0x80, 0xc0, 0x80}, byte(3))
	f.Fuzz(func(t *testing.T, p []byte, ops byte) {
		var m picMunger
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
			pic, wide, tl0, ok := vp8Descriptor(p)
			for j := range p {
				field := ok && ((pic != 0 && (j == pic || (wide && j == pic+1))) || (tl0 != 0 && j == tl0))
				if !field && out[j] != p[j] {
					t.Fatalf("byte %d changed: % x -> % x", j, p, out)
				}
			}
		}
	})
}
