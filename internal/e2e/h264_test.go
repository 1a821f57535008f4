package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livegate/livegate/internal/mediagen"
	"github.com/livegate/livegate/internal/recording"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testservices"
	"github.com/livegate/livegate/internal/whipclient"
)

// testdata/clip.h264 is 4 s of real H.264 (x264, constrained baseline, 320x240, 30 fps,
// a keyframe a second with its SPS and PPS, several slices a picture), made once with
//
//	ffmpeg -f lavfi -i testsrc2=size=320x240:rate=30 -t 4 -c:v libx264 -profile:v baseline \
//	  -level 3.0 -preset veryfast -tune zerolatency -g 30 -keyint_min 30 -sc_threshold 0 \
//	  -bf 0 -b:v 150k -pix_fmt yuv420p -x264-params repeat-headers=1 -f h264 clip.h264
//
// what OBS sends, where the synthetic media of mediagen is no real bitstream.

// h264Frames reads the clip's access units (Annex B), in order.
func h264Frames(t *testing.T) [][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/clip.h264")
	if err != nil {
		t.Fatal(err)
	}
	r, err := h264reader.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	var au []byte
	slices := 0
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		slice := nal.UnitType == h264reader.NalUnitTypeCodedSliceIdr || nal.UnitType == h264reader.NalUnitTypeCodedSliceNonIdr
		// A picture's first slice (first_mb_in_slice = 0: its ue(v) is the bit 1), or a
		// parameter set after slices, starts the next access unit: x264's zerolatency
		// writes several slices a picture.
		if slices > 0 && (!slice || len(nal.Data) > 1 && nal.Data[1]&0x80 != 0) {
			frames = append(frames, au)
			au, slices = nil, 0
		}
		au = append(au, 0, 0, 0, 1)
		au = append(au, nal.Data...)
		if slice {
			slices++
		}
	}
	if slices > 0 {
		frames = append(frames, au)
	}
	return frames
}

// publishH264 publishes the clip, looped at 30 fps, and Opus, as an OBS-like encoder.
func publishH264(t *testing.T, n *testNode, s streamInfo) *publisher {
	t.Helper()
	frames := h264Frames(t)
	if len(frames) != 120 {
		t.Fatalf("the clip has %d pictures, want 4 s at 30 fps", len(frames))
	}
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "livegate-h264")
	if err != nil {
		t.Fatal(err)
	}
	audio, err := mediagen.NewOpus()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, senders, err := whipclient.Publish(ctx, clientAPI(t), n.URL()+"/whip/"+s.ID, s.StreamKey, video, audio.Track)
	if err != nil {
		t.Fatalf("publish H.264: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	p := &publisher{sess: sess, audio: audio, cancel: stop}
	p.wg.Add(3)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for i := 0; ; i++ {
			_ = video.WriteSample(media.Sample{Data: frames[i%len(frames)], Duration: time.Second / 30})
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	go func() { defer p.wg.Done(); audio.Run(runCtx) }()
	go func() { defer p.wg.Done(); audio.ReadRTCP(senders[1]) }()
	var once sync.Once
	t.Cleanup(func() { once.Do(p.stopH264) })
	return p
}

func (p *publisher) stopH264() {
	p.cancel()
	p.sess.PC.Close()
	p.wg.Wait()
}

// An H.264 stream (OBS's codec) is recorded as fragmented MP4, which every browser plays:
// its video and audio, the picture's size from the SPS, as long as the show.
func TestRecordingOfAnH264Stream(t *testing.T) {
	parallelWait(t)
	n := startNode(t, nil)
	s := recordFree(t, n)
	publishH264(t, n, s)
	mustWatch(t, n, s).waitPackets(t, "video", 30, 10*time.Second)
	from := time.Now()
	waitRecorded(t, n, s.ID, 5*time.Second)
	live := time.Since(from)
	sum, body := fetchRecording(t, n, s)
	t.Logf("H.264 recording: %+v, live %v", sum, live)
	if len(sum.Codecs) != 2 || sum.Codecs[0] != "V_MPEG4/ISO/AVC" || sum.Codecs[1] != "A_OPUS" || sum.Width != 320 || sum.Height != 240 {
		t.Errorf("the recording's tracks: %+v, want H.264 320x240 and Opus", sum)
	}
	// It starts on the first keyframe after the recorder joined: the clip has one a second.
	if d := time.Duration(sum.DurationMS) * time.Millisecond; d < live-1500*time.Millisecond || d > live+2*time.Second {
		t.Errorf("the recording plays %v, the show lasted about %v", d, live)
	}
	if sum.Blocks["V_MPEG4/ISO/AVC"] < 120 || sum.Blocks["A_OPUS"] < 200 {
		t.Errorf("frames recorded: %v", sum.Blocks)
	}
	// A preview's cut lands on a fragment (a keyframe a second here): the first 2 s and
	// at most a fragment more.
	cut, err := recording.CutAfter(bytes.NewReader(body), int64(len(body)), 2000)
	if err != nil {
		t.Fatal(err)
	}
	preview, err := recording.Probe(bytes.NewReader(body[:cut]))
	if err != nil || preview.DurationMS < 2000 || preview.DurationMS > 3100 || preview.Truncated {
		t.Errorf("a 2 s preview of the H.264 recording: %+v %v", preview, err)
	}
}

// Chromium plays an H.264 stream's replay (fragmented MP4) in the viewer page.
func TestBrowserPlaysAnH264Replay(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, nil)
	s := recordFree(t, n)
	p := publishH264(t, n, s)
	mustWatch(t, n, s).waitPackets(t, "video", 30, 10*time.Second)
	waitRecorded(t, n, s.ID, 3*time.Second)
	p.stopH264()
	n.call("DELETE", "/v1/streams/"+s.ID, nil, nil)
	waitRecording(t, n, s.ID, store.RecordingComplete)
	browser := startBrowser(t, chromium)
	if err := chromedp.Do(browser, chromedp.Navigate(n.URL()+"/watch/"+s.ID+"?loopback=1")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, browser, "the replay", `window.livegateReplay === true`, 10*time.Second)
	waitPlaying(t, browser)
	if w, _ := chromedp.Run(browser, chromedp.Evaluate[int](`document.getElementById("video").videoWidth`)); w != 320 {
		t.Errorf("the replay's picture is %d wide, want the clip's 320", w)
	}
	screenshots(t, browser, "h264-replay")
}

// aiortc (Python, which decodes what it gets through FFmpeg) joining an H.264 stream
// between two keyframes decodes its first picture within 500 ms of connecting: the
// node's cached keyframe starts at the SPS and PPS, so no keyframe request reaches the
// encoder (before issue 30 the replay began at the IDR slice, and aiortc waited 3.9 s
// for the next keyframe). Three joins, each at a different point of the second between
// keyframes.
func TestAiortcDecodesAnH264JoinAtOnce(t *testing.T) {
	parallelWait(t)
	python := "/usr/bin/python3" // Debian's, where python3-aiortc installs; not a virtualenv's
	if err := exec.Command(python, "-c", "import aiortc").Run(); err != nil {
		testservices.Missing(t, "aiortc (apt-get install python3-aiortc)", err)
	}
	n := startNode(t, nil)
	s := n.newStream()
	publishH264(t, n, s)
	mustWatch(t, n, s).waitPackets(t, "video", 30, 10*time.Second)
	script := filepath.Join("testdata", "aiortc", "whep.py")
	for i, offset := range []time.Duration{0, 330 * time.Millisecond, 670 * time.Millisecond} {
		time.Sleep(offset) // about time: where in the clip's second (a keyframe each) the join lands
		plis := testutil.ToFloat64(n.Metrics.PLIsSent)
		out, err := exec.Command(python, script, n.URL()+"/whep/"+s.ID, "2").Output()
		if err != nil {
			t.Fatalf("aiortc viewer %d: %v\n%s", i, err, out)
		}
		var got struct {
			AnswerMs, ConnectedMs, FirstFrameMs, Frames, Width, Height, AudioFrames int
			Error                                                                   string
		}
		if err := json.Unmarshal(out, &got); err != nil || got.Error != "" {
			t.Fatalf("aiortc viewer %d printed %q (%v)", i, out, err)
		}
		t.Logf("figures: aiortc H.264 join %d: answer %d ms, connected %d ms, first decoded picture %d ms after the POST (%d ms after connecting); %d pictures %dx%d, %d audio frames in 2 s",
			i, got.AnswerMs, got.ConnectedMs, got.FirstFrameMs, got.FirstFrameMs-got.ConnectedMs, got.Frames, got.Width, got.Height, got.AudioFrames)
		if got.Frames == 0 || got.ConnectedMs == 0 {
			t.Fatalf("aiortc viewer %d decoded no picture in 2 s (connected at %d ms)", i, got.ConnectedMs)
		}
		if d := got.FirstFrameMs - got.ConnectedMs; d > 500 {
			t.Errorf("aiortc viewer %d decoded its first picture %d ms after connecting, want within 500 ms", i, d)
		}
		if got.Width != 320 || got.Height != 240 || got.Frames < 30 || got.AudioFrames < 50 {
			t.Errorf("aiortc viewer %d: %d pictures %dx%d, %d audio frames in 2 s; want the clip's 320x240 at about 30 a second, and sound", i, got.Frames, got.Width, got.Height, got.AudioFrames)
		}
		if d := testutil.ToFloat64(n.Metrics.PLIsSent) - plis; d != 0 {
			t.Errorf("aiortc viewer %d's join sent %v keyframe requests to the encoder, want none", i, d)
		}
	}
}
