package e2e

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/whipclient"
)

const (
	videoOrientationURI = "urn:3gpp:video-orientation"
	audioLevelURI       = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
)

// extID is the id a sender or receiver negotiated for uri (0: none).
func extID(exts []webrtc.RTPHeaderExtensionParameter, uri string) uint8 {
	for _, e := range exts {
		if e.URI == uri {
			return uint8(e.ID)
		}
	}
	return 0
}

// A phone publishing portrait marks its video with the orientation extension, and the
// audio with its level: a viewer receives both under the ids it negotiated, whatever ids
// the publisher used.
func TestHeaderExtensionsForwarded(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()

	// The publisher registers an extra extension first, so its ids differ from the
	// viewer's.
	pubAPI, err := whipclient.NewAPI(whipclient.Options{Interfaces: []string{"lo"}, Loopback: true,
		VideoExtensions: []string{"urn:ietf:params:rtp-hdrext:toffset", videoOrientationURI},
		AudioExtensions: []string{"urn:ietf:params:rtp-hdrext:csrc-audio-level", audioLevelURI}})
	if err != nil {
		t.Fatal(err)
	}
	video, audio := genAV(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, senders, err := whipclient.Publish(ctx, pubAPI, n.URL()+"/whip/"+s.ID, s.StreamKey, video.Track, audio.Track)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	pubCVO := extID(senders[0].GetParameters().HeaderExtensions, videoOrientationURI)
	pubLevel := extID(senders[1].GetParameters().HeaderExtensions, audioLevelURI)
	if pubCVO == 0 || pubLevel == 0 {
		t.Fatalf("the node did not negotiate the extensions with the publisher: %+v %+v",
			senders[0].GetParameters().HeaderExtensions, senders[1].GetParameters().HeaderExtensions)
	}
	const rotated90 = 0x01 // CVO: R1 R0 = 01, a quarter turn
	video.Decorate = func(h *rtp.Header) { _ = h.SetExtension(pubCVO, []byte{rotated90}) }
	audio.Decorate = func(h *rtp.Header) { _ = h.SetExtension(pubLevel, []byte{0x80 | 30}) }
	runSources(t, sess, video, audio)

	viewAPI, err := whipclient.NewAPI(whipclient.Options{Interfaces: []string{"lo"}, Loopback: true,
		VideoExtensions: []string{videoOrientationURI}, AudioExtensions: []string{audioLevelURI}})
	if err != nil {
		t.Fatal(err)
	}
	var orientations, levels, videoPkts atomic.Int64
	var viewWG sync.WaitGroup
	vs, err := whipclient.View(ctx, viewAPI, n.URL()+"/whep/"+s.ID, "", func(tr *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
		uri := audioLevelURI
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			uri = videoOrientationURI
		}
		id := extID(rcv.GetParameters().HeaderExtensions, uri)
		viewWG.Add(1)
		go func() {
			defer viewWG.Done()
			for {
				pkt, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				v := pkt.GetExtension(id)
				switch {
				case tr.Kind() == webrtc.RTPCodecTypeVideo:
					videoPkts.Add(1)
					if id != 0 && len(v) == 1 && v[0] == rotated90 {
						orientations.Add(1)
					}
				case id != 0 && len(v) == 1 && v[0] == 0x80|30:
					levels.Add(1)
				}
			}
		}()
	})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	t.Cleanup(func() { vs.PC.Close(); viewWG.Wait() })
	poll.Until(t, 10*time.Second, "30 orientations and 30 audio levels under the viewer's ids", func() error {
		return poll.Want(orientations.Load() >= 30 && levels.Load() >= 30, "%d video packets, %d with the orientation, %d audio levels",
			videoPkts.Load(), orientations.Load(), levels.Load())
	})
}
