package mediagen

import "testing"

// A VP8 payload with a picture id and TL0PICIDX checks like one without: the index is
// found after the descriptor, whatever its length.
func TestPayloadVP8PicChecks(t *testing.T) {
	for _, c := range []struct {
		first, key bool
	}{{true, true}, {true, false}, {false, false}} {
		p := PayloadVP8Pic(nil, 4242, c.first, c.key, 300, 0x7ffe, 9)
		if n := descriptorLen(p, false); n != 5 {
			t.Fatalf("descriptor length %d, want 5", n)
		}
		if p[2]&0x80 == 0 || uint16(p[2]&0x7f)<<8|uint16(p[3]) != 0x7ffe || p[4] != 9 {
			t.Fatalf("picture id %x %x, TL0PICIDX %d", p[2], p[3], p[4])
		}
		idx, key, ok := Check("video/VP8", p)
		if !ok || idx != 4242 || key != (c.first && c.key) {
			t.Fatalf("%+v: Check = %d %v %v", c, idx, key, ok)
		}
	}
	plain := Payload(nil, "video/vp8", 7, true, true, 300)
	if idx, key, ok := Check("video/vp8", plain); !ok || idx != 7 || !key {
		t.Fatalf("plain VP8: %d %v %v", idx, key, ok)
	}
	for _, bad := range [][]byte{nil, {0x80}, {0x80, 0x80}, {0x80, 0xf0, 0x80, 0, 0}} {
		if _, _, ok := Check("video/vp8", bad); ok {
			t.Fatalf("%x checks", bad)
		}
	}
}

// A VP9 payload with a picture id, layer indices and TL0PICIDX checks like a plain one,
// and PictureID reads back what was written, for VP8 and VP9.
func TestPayloadVP9PicChecks(t *testing.T) {
	for _, c := range []struct {
		first, key bool
	}{{true, true}, {true, false}, {false, false}} {
		p := PayloadVP9Pic(nil, 4242, c.first, c.key, 300, 0x7ffe, 9)
		if n := descriptorLen(p, true); n != 5 {
			t.Fatalf("descriptor length %d, want 5", n)
		}
		idx, key, ok := Check("video/VP9", p)
		if !ok || idx != 4242 || key != (c.first && c.key) {
			t.Fatalf("%+v: Check = %d %v %v", c, idx, key, ok)
		}
		if pic, tl0 := PictureID("video/vp9", p); pic != 0x7ffe || tl0 != 9 {
			t.Fatalf("VP9 PictureID = %d, %d", pic, tl0)
		}
	}
	if pic, tl0 := PictureID("video/vp8", PayloadVP8Pic(nil, 1, true, false, 300, 300, 200)); pic != 300 || tl0 != 200 {
		t.Fatalf("VP8 PictureID = %d, %d", pic, tl0)
	}
	if pic, tl0 := PictureID("video/vp9", Payload(nil, "video/vp9", 7, true, true, 300)); pic != -1 || tl0 != -1 {
		t.Fatalf("plain VP9 PictureID = %d, %d, want none", pic, tl0)
	}
	if idx, key, ok := Check("video/vp9", Payload(nil, "video/vp9", 7, true, true, 300)); !ok || idx != 7 || !key {
		t.Fatalf("plain VP9: %d %v %v", idx, key, ok)
	}
	for _, bad := range [][]byte{{0x80}, {0xa0, 0x80, 0x01}} {
		if _, _, ok := Check("video/vp9", bad); ok {
			t.Fatalf("%x checks", bad)
		}
	}
}
