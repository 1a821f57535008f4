package sfu

import "testing"

func TestKeyframeStart(t *testing.T) {
	cases := []struct {
		name, mime string
		payload    []byte
		want       bool
	}{
		{"vp8 key", "video/VP8", []byte{0x10, 0x00, 0x9d}, true},
		{"vp8 inter", "video/VP8", []byte{0x10, 0x01}, false},
		{"vp8 continuation", "video/VP8", []byte{0x00, 0x00}, false},
		{"vp8 key with picture id", "video/VP8", []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true},
		{"vp8 inter with picture id", "video/VP8", []byte{0x90, 0x80, 0x81, 0x23, 0x01}, false},
		{"vp8 truncated", "video/VP8", []byte{0x90}, false},
		{"h264 idr", "video/H264", []byte{0x65, 0x88}, true},
		{"h264 sps", "video/H264", []byte{0x67, 0x42}, true},
		{"h264 non-idr", "video/H264", []byte{0x41, 0x9a}, false},
		{"h264 stap-a sps", "video/H264", []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"h264 stap-a truncated", "video/H264", []byte{0x78, 0x00}, false},
		{"h264 fu-a idr start", "video/H264", []byte{0x7c, 0x85, 0x00}, true},
		{"h264 fu-a idr middle", "video/H264", []byte{0x7c, 0x05, 0x00}, false},
		{"vp9 key", "video/VP9", []byte{0x08}, true},
		{"vp9 inter", "video/VP9", []byte{0x48}, false},
		{"av1 new sequence", "video/AV1", []byte{0x08}, true},
		{"av1 other", "video/AV1", []byte{0x10}, false},
		{"opus", "audio/opus", []byte{0xfc}, false},
		{"empty", "video/VP8", nil, false},
	}
	for _, c := range cases {
		if got := isKeyframeStart(c.mime, c.payload); got != c.want {
			t.Errorf("%s: isKeyframeStart = %v, want %v", c.name, got, c.want)
		}
	}
}

func FuzzKeyframeStart(f *testing.F) {
	f.Add([]byte{0x78, 0x00, 0x02, 0x67})
	f.Add([]byte{0x90, 0x80})
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, m := range []string{"video/vp8", "video/h264", "video/vp9", "video/av1"} {
			isKeyframeStart(m, p)
		}
	})
}

func TestPacketCache(t *testing.T) {
	c := newPacketCache(8)
	dst := make([]byte, maxPacket)
	for seq := uint16(65530); seq != 6; seq++ { // wraps around
		c.put(seq, []byte{byte(seq), byte(seq >> 8)}, 0)
	}
	if n := c.get(5, dst); n != 2 || dst[0] != 5 {
		t.Fatalf("get(5) = %d %v", n, dst[:2])
	}
	if n := c.get(65534, dst); n != 2 || dst[0] != 254 {
		t.Fatalf("get(65534) = %d, want the packet across the wrap", n)
	}
	if n := c.get(65530, dst); n != 0 {
		t.Fatalf("get(65530) = %d, want evicted", n)
	}
	if n := c.get(100, dst); n != 0 {
		t.Fatalf("get of a never-seen packet = %d", n)
	}
	c.put(7, make([]byte, maxPacket+1), 0)
	if n := c.get(7, dst); n != 0 {
		t.Fatal("oversized packet cached")
	}
}
