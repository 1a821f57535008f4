package sfu

import (
	"testing"

	"github.com/pion/webrtc/v4"
)

func TestRelayTrackIDRoundTrip(t *testing.T) {
	for _, r := range []*receiver{
		{kind: webrtc.RTPCodecTypeVideo, rid: "f", track: "{a:b:c}"},
		{kind: webrtc.RTPCodecTypeAudio, rid: "", track: "audio0"},
	} {
		kind, rid, track, ok := parseRelayTrackID(relayTrackID(r))
		if !ok || kind != r.kind.String() || rid != r.rid || track != r.track {
			t.Errorf("%q -> %q %q %q %v", relayTrackID(r), kind, rid, track, ok)
		}
	}
	for _, bad := range []string{"video", "lg:", "lg:data:f:x", "lg:video:f"} {
		if _, _, _, ok := parseRelayTrackID(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}
