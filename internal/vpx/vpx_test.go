package vpx

import "testing"

func TestParse(t *testing.T) {
	for _, c := range []struct {
		name string
		p    []byte
		vp9  bool
		want Descriptor
		ok   bool
	}{
		{"VP8 without extension", []byte{0x10, 0x00}, false, Descriptor{Len: 1}, true},
		{"VP8 15-bit id and TL0PICIDX", []byte{0x90, 0xc0, 0x81, 0x02, 0x07, 0x00}, false, Descriptor{Pic: 2, Tl0: 4, Len: 5, Wide: true}, true},
		{"VP8 7-bit id, TL0PICIDX, TID byte", []byte{0x90, 0xe0, 0x05, 0x07, 0x20, 0x00}, false, Descriptor{Pic: 2, Tl0: 3, Len: 5}, true},
		{"VP8 TL0PICIDX only", []byte{0x90, 0x40, 0x07, 0x00}, false, Descriptor{Tl0: 2, Len: 3}, true},
		{"VP8 cut in the extension", []byte{0x80}, false, Descriptor{}, false},
		{"VP8 cut in the id", []byte{0x80, 0x80}, false, Descriptor{}, false},
		{"VP8 cut before TL0PICIDX", []byte{0x80, 0xc0, 0x81, 0x02}, false, Descriptor{}, false},
		{"VP9 non-flexible: id, layers, TL0PICIDX", []byte{0xa8, 0x81, 0x02, 0x00, 0x07, 0x82}, true, Descriptor{Pic: 1, Tl0: 4, Len: 5, Wide: true}, true},
		{"VP9 flexible: id, layers, no TL0PICIDX", []byte{0xb8, 0x81, 0x02, 0x00, 0x82}, true, Descriptor{Pic: 1, Len: 4, Wide: true}, true},
		{"VP9 7-bit id, no layers", []byte{0x88, 0x05, 0x82}, true, Descriptor{Pic: 1, Len: 2}, true},
		{"VP9 plain", []byte{0x48, 0x00}, true, Descriptor{Len: 1}, true},
		{"VP9 cut inside the id", []byte{0x88}, true, Descriptor{}, false},
		{"VP9 cut before TL0PICIDX", []byte{0xa8, 0x81, 0x02, 0x00}, true, Descriptor{}, false},
		{"empty", nil, true, Descriptor{}, false},
	} {
		d, ok := Parse(c.p, c.vp9)
		if ok != c.ok || (ok && d != c.want) {
			t.Errorf("%s: %+v %v, want %+v %v", c.name, d, ok, c.want, c.ok)
		}
		if ok && d.Pic != 0 {
			if got, want := d.PictureID(c.p), uint16(c.p[d.Pic]&0x7f); !d.Wide && got != want {
				t.Errorf("%s: picture id %d, want %d", c.name, got, want)
			}
		}
	}
	if d, _ := Parse([]byte{0x90, 0xc0, 0xff, 0xfe, 0x07, 0x00}, false); d.PictureID([]byte{0x90, 0xc0, 0xff, 0xfe, 0x07, 0x00}) != 0x7ffe {
		t.Error("15-bit picture id misread")
	}
}

// Whatever the payload, Parse does not read past it, and what it locates lies inside.
func FuzzParse(f *testing.F) {
	f.Add([]byte{0x90, 0xc0, 0x81, 0x02, 0x07, 0x00}, false)
	f.Add([]byte{0xa8, 0x81, 0x02, 0x00, 0x07, 0x82}, true)
	f.Fuzz(func(t *testing.T, p []byte, vp9 bool) {
		d, ok := Parse(p, vp9)
		if !ok {
			return
		}
		if d.Len > len(p) || d.Pic >= d.Len && d.Pic != 0 || d.Tl0 >= d.Len && d.Tl0 != 0 {
			t.Fatalf("%+v outside % x", d, p)
		}
		if d.Pic != 0 {
			_ = d.PictureID(p)
		}
	})
}

// Read gives the fields' values, -1 for one a payload does not carry.
func TestRead(t *testing.T) {
	for _, c := range []struct {
		name     string
		p        []byte
		vp9      bool
		pic, tl0 int
		ok       bool
	}{
		{"VP8 15-bit id and TL0PICIDX", []byte{0x90, 0xc0, 0xff, 0xfe, 0x07, 0x00}, false, 0x7ffe, 7, true},
		{"VP8 TL0PICIDX only", []byte{0x90, 0x40, 0x07, 0x00}, false, -1, 7, true},
		{"VP9 7-bit id, no layers", []byte{0x88, 0x05, 0x82}, true, 5, -1, true},
		{"VP9 plain", []byte{0x48, 0x00}, true, -1, -1, true},
		{"VP8 cut in the id", []byte{0x80, 0x80}, false, -1, -1, false},
	} {
		if pic, tl0, ok := Read(c.p, c.vp9); pic != c.pic || tl0 != c.tl0 || ok != c.ok {
			t.Errorf("%s: %d %d %v, want %d %d %v", c.name, pic, tl0, ok, c.pic, c.tl0, c.ok)
		}
	}
}
