package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/mediagen"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/red"
	"github.com/livegate/livegate/internal/whipclient"
)

// audioViewer is a WHEP client keeping every audio payload it receives.
type audioViewer struct {
	mu   sync.Mutex
	mime string
	pkts []rtp.Packet
}

func watchAudio(t *testing.T, n *testNode, s streamInfo, withRED bool) *audioViewer {
	t.Helper()
	api, err := whipclient.NewAPI(whipclient.Options{Interfaces: []string{"lo"}, Loopback: true, RED: withRED})
	if err != nil {
		t.Fatal(err)
	}
	v := &audioViewer{}
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := whipclient.View(ctx, api, n.URL()+"/whep/"+s.ID, "", func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		v.mu.Lock()
		v.mime = tr.Codec().MimeType
		v.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				v.mu.Lock()
				v.pkts = append(v.pkts, *p)
				v.mu.Unlock()
			}
		}()
	})
	if err != nil {
		t.Fatalf("watch (RED offered: %v): %v", withRED, err)
	}
	t.Cleanup(func() { sess.PC.Close(); wg.Wait() })
	return v
}

// wait returns the codec and packets once there are at least n.
func (v *audioViewer) wait(t *testing.T, n int) (string, []rtp.Packet) {
	t.Helper()
	poll.Until(t, 10*time.Second, "audio packets", func() error {
		v.mu.Lock()
		defer v.mu.Unlock()
		return poll.Want(len(v.pkts) >= n, "%d of %d", len(v.pkts), n)
	})
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.mime, append([]rtp.Packet(nil), v.pkts...)
}

// checkOpus says every packet is a publisher's Opus frame, intact and in sequence.
func checkOpus(t *testing.T, pkts []rtp.Packet) {
	t.Helper()
	var last uint64
	for i, p := range pkts {
		idx, _, ok := mediagen.Check(webrtc.MimeTypeOpus, p.Payload)
		if !ok {
			t.Fatalf("packet %d: not the publisher's Opus frame (%d bytes)", i, len(p.Payload))
		}
		if i > 0 && idx != last+1 {
			t.Fatalf("packet %d: frame %d after %d", i, idx, last)
		}
		last = idx
	}
}

// checkRED says every packet is RED whose primary is the publisher's next Opus frame and
// whose earlier blocks are the frames before it, 20 ms apart each, under the viewer's
// Opus payload type; and that at least most packets carry want earlier frames.
func checkRED(t *testing.T, pkts []rtp.Packet, want int) {
	t.Helper()
	full := 0
	var blocks []red.Block
	for i, p := range pkts {
		var err error
		if blocks, err = red.Parse(p.Payload, blocks[:0]); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		primary, ok := checkBlock(t, blocks[len(blocks)-1])
		if !ok {
			t.Fatalf("packet %d: primary is not an Opus frame", i)
		}
		earlier := blocks[:len(blocks)-1]
		for j, b := range earlier {
			idx, ok := checkBlock(t, b)
			back := uint64(len(earlier) - j)
			if !ok || idx != primary-back || b.TSOffset != uint32(back)*960 {
				t.Fatalf("packet %d block %d: frame %d at -%d samples, want frame %d at -%d", i, j, idx, b.TSOffset, primary-back, back*960)
			}
		}
		if len(earlier) == want {
			full++
		}
	}
	if full < len(pkts)*9/10 {
		t.Fatalf("%d of %d packets carry %d earlier frames", full, len(pkts), want)
	}
}

func checkBlock(t *testing.T, b red.Block) (uint64, bool) {
	t.Helper()
	if b.PT != 111 {
		t.Fatalf("block payload type %d, want the viewer's Opus 111", b.PT)
	}
	idx, _, ok := mediagen.Check(webrtc.MimeTypeOpus, b.Data)
	return idx, ok
}

// Redundant audio (audio/red) for the viewers that take it, plain Opus for those that
// do not, whether the publisher sends Opus (an OBS-like encoder: the node builds the RED,
// two earlier frames in each packet) or RED itself (a browser: forwarded as sent, its
// primary frames to plain viewers). Opus is negotiated with in-band FEC both ways.
func TestRedundantAudio(t *testing.T) {
	n := startNode(t, nil)

	t.Run("publisher sends Opus", func(t *testing.T) {
		s := n.newStream()
		p := publish(t, n, s, webrtc.MimeTypeVP8, 30)
		if a := p.sess.PC.RemoteDescription().SDP; !strings.Contains(a, "useinbandfec=1") {
			t.Fatalf("publisher's answer without Opus in-band FEC:\n%s", a)
		}
		plain, withRED := watchAudio(t, n, s, false), watchAudio(t, n, s, true)
		mime, pkts := plain.wait(t, 100)
		if !strings.EqualFold(mime, webrtc.MimeTypeOpus) {
			t.Fatalf("plain viewer got %s", mime)
		}
		checkOpus(t, pkts)
		mime, pkts = withRED.wait(t, 100)
		if !strings.EqualFold(mime, "audio/red") {
			t.Fatalf("viewer offering RED got %s", mime)
		}
		checkRED(t, pkts[5:], red.MaxDistance)
	})

	t.Run("publisher sends RED", func(t *testing.T) {
		s := recordFree(t, n)
		stop := publishRED(t, n, s)
		defer stop()
		plain, withRED := watchAudio(t, n, s, false), watchAudio(t, n, s, true)
		mime, pkts := plain.wait(t, 100)
		if !strings.EqualFold(mime, webrtc.MimeTypeOpus) {
			t.Fatalf("plain viewer got %s", mime)
		}
		checkOpus(t, pkts)
		mime, pkts = withRED.wait(t, 100)
		if !strings.EqualFold(mime, "audio/red") {
			t.Fatalf("viewer offering RED got %s", mime)
		}
		checkRED(t, pkts[5:], 1) // as the publisher built it

		// The recording keeps the Opus frames, not the RED around them.
		waitRecorded(t, n, s.ID, 2*time.Second)
		sum := probeRecording(t, n, s)
		if sum.Blocks["A_OPUS"] < 50 || sum.Bytes["A_OPUS"] != int64(sum.Blocks["A_OPUS"])*redFrameSize {
			t.Errorf("recorded audio: %d blocks, %d bytes, want Opus frames of %d bytes", sum.Blocks["A_OPUS"], sum.Bytes["A_OPUS"], redFrameSize)
		}
	})
}

// redFrameSize is the size of publishRED's Opus frames.
const redFrameSize = 120

// publishRED publishes generated VP8 and Opus frames as RED with one earlier frame in
// each packet, as Chromium does once the answer puts RED first (which the node's does).
func publishRED(t *testing.T, n *testNode, s streamInfo) (stop func()) {
	t.Helper()
	api, err := whipclient.NewAPI(whipclient.Options{Interfaces: []string{"lo"}, Loopback: true, RED: true})
	if err != nil {
		t.Fatal(err)
	}
	video, err := mediagen.NewVideo(webrtc.MimeTypeVP8, 300_000)
	if err != nil {
		t.Fatal(err)
	}
	video.KeyframeEvery = 30
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: "audio/red", ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111"}, "audio", "livegate-red")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, _, err := whipclient.Publish(ctx, api, n.URL()+"/whip/"+s.ID, s.StreamKey, video.Track, audio)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	answer := sess.PC.RemoteDescription().SDP
	if m := answer[strings.Index(answer, "m=audio"):]; !strings.HasPrefix(m, "m=audio 9 UDP/TLS/RTP/SAVPF 63 ") {
		t.Fatalf("the node's answer does not put RED first for a publisher offering it: %q", m[:min(len(m), 60)])
	}
	run, cancelRun := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); video.Run(run) }()
	go func() {
		defer wg.Done()
		// One earlier frame, as a browser sends: the distance is the encoder's choice.
		var prev []byte
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := uint64(0); ; i++ {
			select {
			case <-run.Done():
				return
			case <-tick.C:
			}
			frame := mediagen.Payload(nil, webrtc.MimeTypeOpus, i, true, false, redFrameSize)
			payload := []byte{111}
			if prev != nil {
				payload = []byte{0x80 | 111, byte(960 >> 6), byte(960<<2&0xff) | byte(len(prev)>>8), byte(len(prev)), 111}
				payload = append(payload, prev...)
			}
			payload = append(payload, frame...)
			prev = frame
			if err := audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 63, SequenceNumber: uint16(i), Timestamp: uint32(i) * 960}, Payload: payload}); err != nil {
				return
			}
		}
	}()
	return func() { cancelRun(); sess.PC.Close(); wg.Wait() }
}
