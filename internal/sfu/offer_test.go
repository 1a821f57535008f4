package sfu

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/pion/webrtc/v4"
)

const chromeLikeOffer = "v=0\r\no=- 46117317 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:0 PCMU/8000\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"

func TestParseOffer(t *testing.T) {
	o, err := ParseOffer(chromeLikeOffer)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Media) != 2 || o.sending() != 2 {
		t.Fatalf("parsed %+v", o)
	}
	if len(o.Media[0].Codecs) != 1 || o.Media[0].Codecs[0].MimeType != webrtc.MimeTypeOpus {
		t.Errorf("audio codecs %+v: PCMU must be left out", o.Media[0].Codecs)
	}
	if len(o.Media[1].Codecs) != 2 {
		t.Errorf("video codecs %+v", o.Media[1].Codecs)
	}
	for _, bad := range []string{"", "garbage", "v=0\r\n", "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nt=0 0\r\n"} {
		if _, err := ParseOffer(bad); !errors.Is(err, ErrBadOffer) && !errors.Is(err, ErrNoCodec) {
			t.Errorf("ParseOffer(%q) = %v, want an offer error", bad, err)
		}
	}
}

func TestCodecMatches(t *testing.T) {
	h264 := func(fmtp string) webrtc.RTPCodecCapability {
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtp}
	}
	cases := []struct {
		a, b webrtc.RTPCodecCapability
		want bool
	}{
		{h264("packetization-mode=1;profile-level-id=42e01f"), h264("packetization-mode=1;profile-level-id=42001f"), true},
		{h264("packetization-mode=1;profile-level-id=42e01f"), h264("packetization-mode=0;profile-level-id=42e01f"), false},
		{h264("packetization-mode=1;profile-level-id=64001f"), h264("packetization-mode=1;profile-level-id=42e01f"), false},
		{webrtc.RTPCodecCapability{MimeType: "video/vp8", ClockRate: 90000}, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, true},
		{webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=2"}, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000}, false},
		{webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000}, false},
	}
	for i, c := range cases {
		if got := codecMatches(c.a, c.b); got != c.want {
			t.Errorf("case %d: codecMatches = %v, want %v", i, got, c.want)
		}
	}
}

// FuzzParseOffer: no input panics, and an accepted offer always has a usable section.
func FuzzParseOffer(f *testing.F) {
	f.Add(chromeLikeOffer)
	f.Add("v=0\r\n")
	f.Add("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 45\r\na=rtpmap:45 AV1/90000\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		o, err := ParseOffer(raw)
		if err != nil {
			return
		}
		usable := false
		for _, m := range o.Media {
			usable = usable || len(m.Codecs) > 0
		}
		if !usable || len(o.Media) > maxMedia {
			t.Fatalf("accepted an offer with nothing to relay: %+v", o)
		}
	})
}

func TestRemoteFilter(t *testing.T) {
	keep := remoteFilter([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}, true)
	for ip, want := range map[string]bool{"127.0.0.1": true, "127.1.2.3": true, "::1": true, "::ffff:127.0.0.1": true,
		"10.0.0.5": false, "192.168.1.2": false, "2001:db8::1": false} {
		if got := keep(net.ParseIP(ip)); got != want {
			t.Errorf("networks %s: keep = %v, want %v", ip, got, want)
		}
	}
	// Production's default: public unicast only.
	public := remoteFilter(nil, true)
	for ip, want := range map[string]bool{"8.8.8.8": true, "2a00:1450:4007::1": true, "41.250.1.9": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.9": false, "192.168.0.1": false, "169.254.1.1": false,
		"fe80::1": false, "fd00::1": false, "100.64.0.1": false, "224.0.0.251": false, "ff02::1": false, "0.0.0.0": false,
		"255.255.255.255": false, "::": false, "::ffff:10.0.0.1": false} {
		if got := public(net.ParseIP(ip)); got != want {
			t.Errorf("public only %s: keep = %v, want %v", ip, got, want)
		}
	}
	// Development: anything that can be a peer.
	any := remoteFilter(nil, false)
	for ip, want := range map[string]bool{"10.1.2.3": true, "127.0.0.1": true, "224.0.0.251": false, "0.0.0.0": false} {
		if got := any(net.ParseIP(ip)); got != want {
			t.Errorf("development %s: keep = %v, want %v", ip, got, want)
		}
	}
}

// Which codec and form carries a publisher's audio to a viewer: RED wherever the viewer
// takes it (built here from Opus), the primary Opus frame where it does not, and the
// track as it is on a relay to another node.
func TestChooseCodecForAudio(t *testing.T) {
	opus := webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}}
	redc := webrtc.RTPCodecParameters{PayloadType: 63, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/red", ClockRate: 48000, Channels: 2}}
	for _, c := range []struct {
		name     string
		pub      webrtc.RTPCodecParameters
		viewer   []webrtc.RTPCodecParameters
		relay    bool
		wantMime string
		want     audioForm
		ok       bool
	}{
		{"opus to a plain viewer", opus, []webrtc.RTPCodecParameters{opus}, false, webrtc.MimeTypeOpus, audioSame, true},
		{"opus to a RED viewer", opus, []webrtc.RTPCodecParameters{opus, redc}, false, "audio/red", audioRED, true},
		{"opus to a relay offering RED", opus, []webrtc.RTPCodecParameters{opus, redc}, true, webrtc.MimeTypeOpus, audioSame, true},
		{"RED to a RED viewer", redc, []webrtc.RTPCodecParameters{opus, redc}, false, "audio/red", audioSame, true},
		{"RED to a plain viewer", redc, []webrtc.RTPCodecParameters{opus}, false, webrtc.MimeTypeOpus, audioPrimary, true},
		{"RED to a relay", redc, []webrtc.RTPCodecParameters{opus, redc}, true, "audio/red", audioSame, true},
		{"RED without Opus is not playable", opus, []webrtc.RTPCodecParameters{redc}, false, "", audioSame, false},
	} {
		got, form, ok := chooseCodec(c.pub, c.viewer, c.relay)
		if ok != c.ok || form != c.want || ok && got.MimeType != c.wantMime {
			t.Errorf("%s: %s form %d ok %v, want %s form %d ok %v", c.name, got.MimeType, form, ok, c.wantMime, c.want, c.ok)
		}
	}
}
