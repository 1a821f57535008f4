package sfu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

// Offers as the WebRTC stacks viewers and encoders use write them (captured, or written
// from their documented shapes): each must be read with every section it really has, a
// bundle-only section (port 0 with a=bundle-only) counted as live.
func TestOffersFromStacks(t *testing.T) {
	type section struct {
		kind     webrtc.RTPCodecType
		dir      string
		codec    string // a codec livegate relays that must be found
		rejected bool
	}
	audio := webrtc.RTPCodecTypeAudio
	video := webrtc.RTPCodecTypeVideo
	cases := map[string][]section{
		"chromium-whep.sdp":  {{video, "recvonly", webrtc.MimeTypeVP8, false}, {audio, "recvonly", webrtc.MimeTypeOpus, false}},
		"firefox-whep.sdp":   {{video, "recvonly", webrtc.MimeTypeVP8, false}, {audio, "recvonly", webrtc.MimeTypeOpus, false}},
		"safari-whep.sdp":    {{audio, "recvonly", webrtc.MimeTypeOpus, false}, {video, "recvonly", webrtc.MimeTypeH264, false}},
		"obs-whip.sdp":       {{audio, "sendonly", webrtc.MimeTypeOpus, false}, {video, "sendonly", webrtc.MimeTypeH264, false}},
		"gstreamer-whep.sdp": {{video, "recvonly", webrtc.MimeTypeVP8, false}, {audio, "recvonly", webrtc.MimeTypeOpus, false}},
		"gstreamer-whip.sdp": {{video, "sendonly", webrtc.MimeTypeVP8, false}, {audio, "sendonly", webrtc.MimeTypeOpus, false}},
		"aiortc-whep.sdp":    {{audio, "recvonly", webrtc.MimeTypeOpus, false}, {video, "recvonly", webrtc.MimeTypeVP8, false}},
		"werift-whep.sdp":    {{video, "recvonly", webrtc.MimeTypeVP8, false}, {audio, "recvonly", webrtc.MimeTypeOpus, false}},
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "offers", file))
			if err != nil {
				t.Fatal(err)
			}
			o, err := ParseOffer(strings.ReplaceAll(string(raw), "\n", "\r\n"))
			if err != nil {
				t.Fatalf("ParseOffer: %v", err)
			}
			if len(o.Media) != len(want) {
				t.Fatalf("%d sections, want %d: %+v", len(o.Media), len(want), o.Media)
			}
			for i, w := range want {
				m := o.Media[i]
				if m.Kind != w.kind || m.Direction != w.dir || m.Rejected != w.rejected || m.Mid == "" {
					t.Errorf("section %d: %s %s rejected=%v mid=%q, want %s %s rejected=%v", i, m.Kind, m.Direction, m.Rejected, m.Mid, w.kind, w.dir, w.rejected)
				}
				found := false
				for _, c := range m.Codecs {
					found = found || strings.EqualFold(c.MimeType, w.codec)
				}
				if !found {
					t.Errorf("section %d: %s not found in %+v", i, w.codec, m.Codecs)
				}
				if w.dir == "recvonly" && !o.receives(w.kind, webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: w.codec, ClockRate: clockRate(w.kind), SDPFmtpLine: "packetization-mode=1;profile-level-id=42e01f"}}) {
					t.Errorf("section %d: a viewer with this offer would not receive %s", i, w.codec)
				}
			}
			if strings.Contains(file, "whip") && o.sending() != 2 {
				t.Errorf("publisher offer sends %d sections, want 2", o.sending())
			}
		})
	}
}

func clockRate(k webrtc.RTPCodecType) uint32 {
	if k == webrtc.RTPCodecTypeAudio {
		return 48000
	}
	return 90000
}

// A section the offerer turned off itself is rejected, and is answered rejected.
func TestRejectedSectionAnsweredRejected(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "offers", "gstreamer-whep.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	rejected := strings.Replace(string(raw), "a=bundle-only\n", "", 1)
	o, err := ParseOffer(rejected)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Media[1].Rejected || o.Media[1].Direction != "inactive" || o.receives(webrtc.RTPCodecTypeAudio,
		webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000}}) {
		t.Fatalf("port 0 without bundle-only read as %+v", o.Media[1])
	}

	// pion answers such a section, and one it has nothing to send on, as a sendonly
	// section; the node's answer must say port 0 for the first and inactive for both.
	answer := "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE video0 audio1\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:video0\r\na=sendonly\r\na=msid:s v\r\na=ssrc:1 cname:x\r\na=rtpmap:96 VP8/90000\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:audio1\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n"
	shaped, err := shapeAnswer(o, answer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shaped, "m=audio 0 ") || !strings.Contains(shaped, "m=video 9 ") {
		t.Errorf("shaped answer:\n%s", shaped)
	}
	audioPart := shaped[strings.Index(shaped, "m=audio"):]
	if strings.Contains(audioPart, "a=sendonly") || !strings.Contains(audioPart, "a=inactive") {
		t.Errorf("rejected audio answered as:\n%s", audioPart)
	}

	// Not rejected, but nothing to send: inactive, port kept (it stays in the bundle).
	bundled, _ := ParseOffer(string(raw))
	shaped, err = shapeAnswer(bundled, answer)
	if err != nil {
		t.Fatal(err)
	}
	audioPart = shaped[strings.Index(shaped, "m=audio"):]
	if !strings.Contains(audioPart, "m=audio 9 ") || !strings.Contains(audioPart, "a=inactive") {
		t.Errorf("trackless audio answered as:\n%s", audioPart)
	}
	if !strings.Contains(shaped[:strings.Index(shaped, "m=audio")], "a=sendonly") {
		t.Errorf("video with a stream lost its direction:\n%s", shaped)
	}
}
