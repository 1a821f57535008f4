package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/mediagen"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/recording"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/internal/testservices"
)

type replayLinks struct {
	URL   string `json:"url"`
	Parts []struct {
		ID, URL, State string
		DurationMS     int64 `json:"duration_ms"`
		Bytes          int64
	} `json:"parts"`
}

func (b buyer) replay(streamID string) (replayLinks, rawResponse) {
	b.n.t.Helper()
	r := b.post("/v1/streams/" + streamID + "/replay")
	var l replayLinks
	if r.status == 200 {
		if err := json.Unmarshal([]byte(r.body), &l); err != nil {
			b.n.t.Fatal(err)
		}
	}
	return l, r
}

// fetchRange GETs bytes from..to (inclusive; to < 0: to the end) of url as a player does.
func fetchRange(t *testing.T, url string, from, to int64) (status int, h http.Header, body []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	rng := fmt.Sprintf("bytes=%d-", from)
	if to >= 0 {
		rng += strconv.FormatInt(to, 10)
	}
	req.Header.Set("Range", rng)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rng, err)
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// waitRecording waits until the stream's recording has n parts, the last in state.
func waitRecording(t *testing.T, n *testNode, streamID, state string) []store.Recording {
	t.Helper()
	var recs []store.Recording
	poll.Until(t, 10*time.Second, "the recording of "+streamID+" "+state, func() error {
		var err error
		if recs, err = n.Store.Recordings(t.Context(), streamID); err != nil {
			return err
		}
		return poll.Want(len(recs) > 0 && recs[len(recs)-1].State == state, "parts %+v", recs)
	})
	return recs
}

// waitRecorded waits until the recording of a live stream holds d of the show, as its
// creator's GET /v1/streams/{id}/recording tells: however slowly a busy machine records.
func waitRecorded(t *testing.T, n *testNode, streamID string, d time.Duration) {
	t.Helper()
	var got struct {
		Parts []struct {
			State      string `json:"state"`
			DurationMS int64  `json:"duration_ms"`
		} `json:"parts"`
	}
	poll.Until(t, 30*time.Second, fmt.Sprintf("%v of %s recorded", d, streamID), func() error {
		n.call("GET", "/v1/streams/"+streamID+"/recording", nil, &got)
		if len(got.Parts) == 0 {
			return errors.New("no part yet")
		}
		last := got.Parts[len(got.Parts)-1]
		return poll.Want(last.State == store.RecordingInProgress && last.DurationMS >= d.Milliseconds(),
			"the last part is %s with %d ms", last.State, last.DurationMS)
	})
}

// A ticketed stream is recorded while live. Once it ends, a buyer replays it with range
// requests and gets the show: a WebM with its video and audio, as long as it was live.
// Who has no ticket, who was refunded and who comes after the replay window are refused.
func TestReplayOfATicketedStream(t *testing.T) {
	n := startAccessNode(t, nil)
	n.launchCountries()
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	var got struct {
		Record bool `json:"record"`
	}
	if n.call("GET", "/v1/streams/"+s.ID, nil, &got); !got.Record {
		t.Fatal("a ticket stream is not recorded by default")
	}
	amina, omar := n.buyer("viewer-amina", testenv.IPMorocco), n.buyer("viewer-omar", testenv.IPMorocco)
	amina.buyTicket(s.ID)
	omar.buyTicket(s.ID)

	p := publish(t, n, s, webrtc.MimeTypeVP8, 30)
	v := mustWatchToken(t, n, s, amina.mustAccess(s.ID).PlaybackToken)
	v.waitPackets(t, "video", 1, 10*time.Second)
	liveFrom := time.Now()
	if _, r := amina.replay(s.ID); r.status != 409 || r.problem.Type != "/problems/stream-not-ended" {
		t.Errorf("replay while live: %d %s", r.status, r.body)
	}
	waitRecorded(t, n, s.ID, 4*time.Second) // the show
	sent := p.video.Sent()
	if st := n.call("DELETE", "/v1/streams/"+s.ID, nil, nil); st != 200 {
		t.Fatalf("end the stream: %d", st)
	}
	live := time.Since(liveFrom)
	recs := waitRecording(t, n, s.ID, store.RecordingComplete)
	if len(recs) != 1 {
		t.Fatalf("parts: %+v, want one", recs)
	}

	links, r := amina.replay(s.ID)
	if r.status != 200 || len(links.Parts) != 1 || links.URL != links.Parts[0].URL {
		t.Fatalf("the buyer's replay: %d %s", r.status, r.body)
	}
	// A player's first request: the start of the file, then the rest in ranges.
	status, h, head := fetchRange(t, links.URL, 0, 1023)
	size := recs[0].Bytes
	if status != 206 || h.Get("Content-Type") != "video/webm" || h.Get("Content-Range") != fmt.Sprintf("bytes 0-1023/%d", size) || len(head) != 1024 {
		t.Fatalf("first range: %d %v, %d bytes", status, h, len(head))
	}
	file := bytes.NewBuffer(head)
	for off := int64(1024); off < size; off += 256 << 10 {
		status, _, b := fetchRange(t, links.URL, off, min(off+256<<10, size)-1)
		if status != 206 {
			t.Fatalf("range at %d: %d", off, status)
		}
		file.Write(b)
	}
	sum, err := recording.Probe(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replay: %d bytes, %+v; %d video packets sent over %v live", size, sum, sent, live)
	if len(sum.Codecs) != 2 || sum.Codecs[0] != "V_VP8" || sum.Codecs[1] != "A_OPUS" || !sum.Indexed || sum.Truncated {
		t.Errorf("the replay's tracks: %+v, want VP8 and Opus, finalized", sum)
	}
	// The recording starts on the first keyframe the recorder saw and ends with the show.
	if d := time.Duration(sum.DurationMS) * time.Millisecond; d < live-2*time.Second || d > live+time.Second {
		t.Errorf("the replay lasts %v, the stream was live %v", d, live)
	}
	if sum.Blocks["V_VP8"] < 60 || sum.Blocks["A_OPUS"] < 100 {
		t.Errorf("frames in the replay: %v", sum.Blocks)
	}

	metrics := n.URL() + "/metrics"
	if got := scrape(t, metrics, "livegate_recording_bytes_total"); got < float64(size) {
		t.Errorf("livegate_recording_bytes_total %v, the part has %d bytes", got, size)
	}
	if got := scrape(t, metrics, `livegate_replay_requests_total{status="200"}`); got != 1 {
		t.Errorf("replay links granted: %v, want 1", got)
	}
	if got := scrape(t, metrics, "livegate_recordings_in_progress"); got != 0 {
		t.Errorf("recordings in progress after the end: %v", got)
	}
	// No ticket: the paywall. A link for another part, or none: refused.
	if _, r := n.buyer("viewer-karim", testenv.IPMorocco).replay(s.ID); r.status != 402 || r.problem.Type != "/problems/payment-required" {
		t.Errorf("replay without a ticket: %d %s", r.status, r.body)
	}
	bare, _, _ := strings.Cut(links.URL, "?")
	if status, _, _ := fetchRange(t, bare, 0, 10); status != 401 {
		t.Errorf("a part without its token: %d", status)
	}
	if status, _, _ := fetchRange(t, strings.Replace(links.URL, recs[0].ID, "rec_other", 1), 0, 10); status != 401 {
		t.Errorf("another part with this part's token: %d", status)
	}
	// A refund revokes the replay, and the link given before it.
	omars, r := omar.replay(s.ID)
	if r.status != 200 {
		t.Fatalf("omar's replay: %d %s", r.status, r.body)
	}
	n.deliver("evt_refund_replay", "charge.refunded", refundedCharge("pi_"+omar.id, 4900, true))
	// The same answer as a revoked live session: one type, one status.
	if status, _, body := fetchRange(t, omars.URL, 0, 10); status != 403 || !bytes.Contains(body, []byte("/problems/access-revoked")) {
		t.Errorf("a refunded buyer's link: %d %s, want 403 access-revoked", status, body)
	}
	if _, r := omar.replay(s.ID); r.status != 402 {
		t.Errorf("a refunded buyer's replay: %d %s", r.status, r.body)
	}
	// After the replay window: gone.
	if st := n.call("PATCH", "/v1/streams/"+s.ID, map[string]any{"replay_window_seconds": 1}, nil); st != 200 {
		t.Fatalf("shorten the replay window: %d", st)
	}
	time.Sleep(time.Until(recs[0].EndedAt.Add(1100 * time.Millisecond))) // about time: past the window's end
	if _, r := amina.replay(s.ID); r.status != 410 || r.problem.Type != "/problems/replay-expired" {
		t.Errorf("replay after the window: %d %s", r.status, r.body)
	}
	if status, _, _ := fetchRange(t, links.URL, 0, 10); status != 410 {
		t.Errorf("a link after the window: %d", status)
	}
}

// A node killed mid-stream (SIGKILL: nothing finalized) leaves a recording that plays up
// to the crash: restarted on the same data, the node marks the part interrupted and
// serves it, and the file holds the video and audio that came before the kill: every
// frame of a WebM part, every whole fragment (group of pictures) of an MP4 one.
func TestRecordingSurvivesANodeCrash(t *testing.T) {
	parallelWait(t)
	for _, tc := range []struct {
		codec   string
		publish func(t *testing.T, n *testNode, s streamInfo)
		slack   time.Duration // what the crash may take from the end: a WebM block, an MP4 fragment
	}{
		{"V_VP8", func(t *testing.T, n *testNode, s streamInfo) { publish(t, n, s, webrtc.MimeTypeVP8, 30) }, 500 * time.Millisecond},
		{"V_MPEG4/ISO/AVC", func(t *testing.T, n *testNode, s streamInfo) { publishH264(t, n, s) }, 1500 * time.Millisecond},
	} {
		t.Run(tc.codec, func(t *testing.T) {
			data := t.TempDir()
			a := startProcess(t, "", []string{"--data-dir", data}, nil)
			s := recordFree(t, a)
			tc.publish(t, a, s)
			v := mustWatch(t, a, s)
			v.waitPackets(t, "video", 1, 10*time.Second)
			liveFrom := time.Now()
			time.Sleep(6500 * time.Millisecond) // about time: past the first checkpoint (every 5 s)
			a.proc.Kill()
			live := time.Since(liveFrom)

			b := startProcess(t, "", []string{"--data-dir", data}, nil)
			if st := b.call("DELETE", "/v1/streams/"+s.ID, nil, nil); st != 200 {
				t.Fatalf("end the stream after the crash: %d", st)
			}
			r := b.raw("POST", "/v1/streams/"+s.ID+"/replay", "", "", nil)
			var links replayLinks
			if r.status != 200 || json.Unmarshal([]byte(r.body), &links) != nil || len(links.Parts) != 1 {
				t.Fatalf("replay after the crash: %d %s", r.status, r.body)
			}
			part := links.Parts[0]
			// Checkpoints come every 5 s: the row says at least what the first one saw.
			if part.State != store.RecordingInterrupted || part.Bytes == 0 || part.DurationMS < 1000 {
				t.Errorf("the interrupted part: %s, %d bytes, %d ms; want interrupted, its size, a checkpointed duration",
					part.State, part.Bytes, part.DurationMS)
			}
			status, _, body := fetchRange(t, part.URL, 0, -1)
			if status != 206 || int64(len(body)) != part.Bytes {
				t.Fatalf("the part: %d, %d bytes of %d", status, len(body), part.Bytes)
			}
			sum, err := recording.Probe(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("after a crash %v into the show: %+v", live, sum)
			if len(sum.Codecs) != 2 || sum.Codecs[0] != tc.codec || sum.Indexed {
				t.Errorf("the crashed part's tracks: %+v, want %s and Opus and no index", sum, tc.codec)
			}
			if d := time.Duration(sum.DurationMS) * time.Millisecond; d < live-time.Second-tc.slack || d > live+time.Second {
				t.Errorf("the crashed part plays %v, the stream was live %v before the crash", d, live)
			}
			if sum.Blocks[tc.codec] < 120 {
				t.Errorf("video frames before the crash: %d", sum.Blocks[tc.codec])
			}
		})
	}
}

// A creator deletes a recording: its bytes and its replay are gone. A recording past its
// retention is deleted on its own.
func TestRecordingDeletedAndExpired(t *testing.T) {
	recordings := t.TempDir()
	n := startNode(t, func(c *config.Config) { c.RecordingsDir, c.RecordingSweep = recordings, 200*time.Millisecond })
	show := func(body map[string]any) streamInfo {
		t.Helper()
		var c struct{ ID string }
		n.call("POST", "/v1/creators", map[string]any{"name": "Amina"}, &c)
		body["creator_id"], body["title"], body["record"] = c.ID, "Free show", true
		var s streamInfo
		if st := n.call("POST", "/v1/streams", body, &s); st != 201 {
			t.Fatalf("create stream: %d", st)
		}
		p := publish(t, n, s, webrtc.MimeTypeVP8, 30)
		v := mustWatch(t, n, s)
		v.waitPackets(t, "video", 30, 10*time.Second)
		p.stop()
		n.call("DELETE", "/v1/streams/"+s.ID, nil, nil)
		waitRecording(t, n, s.ID, store.RecordingComplete)
		return s
	}
	files := func(streamID string) int {
		entries, _ := os.ReadDir(filepath.Join(recordings, streamID))
		return len(entries)
	}
	kept := show(map[string]any{})
	if files(kept.ID) != 1 {
		t.Fatalf("recording files of %s: %d", kept.ID, files(kept.ID))
	}
	var parts struct{ Parts []struct{ ID, State string } }
	if n.call("GET", "/v1/streams/"+kept.ID+"/recording", nil, &parts); len(parts.Parts) != 1 || parts.Parts[0].State != "complete" {
		t.Fatalf("the recording's parts: %+v", parts)
	}
	var deleted struct {
		PartsDeleted int `json:"parts_deleted"`
	}
	if st := n.call("DELETE", "/v1/streams/"+kept.ID+"/recording", nil, &deleted); st != 200 || deleted.PartsDeleted != 1 {
		t.Fatalf("delete the recording: %d %+v", st, deleted)
	}
	if files(kept.ID) != 0 {
		t.Errorf("the recording's file is still there after its deletion")
	}
	if r := n.raw("POST", "/v1/streams/"+kept.ID+"/replay", "", "", nil); r.status != 404 || r.problem.Type != "/problems/no-recording" {
		t.Errorf("replay of a deleted recording: %d %s", r.status, r.body)
	}

	short := show(map[string]any{"retention_seconds": 1, "replay_window_seconds": 1})
	// The sweep deletes the bytes, then the row: both must go.
	poll.Until(t, 10*time.Second, "a recording past its retention of 1 s gone, file and part", func() error {
		n.call("GET", "/v1/streams/"+short.ID+"/recording", nil, &parts)
		return poll.Want(files(short.ID) == 0 && len(parts.Parts) == 0, "%d files and %d parts left", files(short.ID), len(parts.Parts))
	})
}

// With recordings in an S3 bucket, any node serves any replay: a stream recorded on one
// node is replayed from another that shares its database and bucket, and nothing is left
// in the recording node's spool.
func TestReplayFromAnotherNodeThroughS3(t *testing.T) {
	bucket, pg := testenv.S3Bucket(t), testenv.PostgresURL(t)
	spoolA := t.TempDir()
	shared := func(spool string) func(*config.Config) {
		return func(c *config.Config) { c.RecordingsS3, c.DatabaseURL, c.RecordingsDir = bucket, pg, spool }
	}
	a := startNode(t, shared(spoolA))
	b := startNode(t, shared(t.TempDir()))
	var c struct{ ID string }
	a.call("POST", "/v1/creators", map[string]any{"name": "Amina"}, &c)
	var s streamInfo
	if st := a.call("POST", "/v1/streams", map[string]any{"creator_id": c.ID, "title": "Free show", "record": true}, &s); st != 201 {
		t.Fatalf("create stream: %d", st)
	}
	p := publish(t, a, s, webrtc.MimeTypeVP8, 30)
	v := mustWatch(t, a, s)
	v.waitPackets(t, "video", 120, 15*time.Second) // some 3 s: 50 frames recorded even if the recorder joined a keyframe late
	p.stop()
	a.call("DELETE", "/v1/streams/"+s.ID, nil, nil)
	recs := waitRecording(t, a, s.ID, store.RecordingComplete)
	if entries, _ := os.ReadDir(filepath.Join(spoolA, s.ID)); len(entries) != 0 {
		t.Errorf("the spool still holds %d files once the part is uploaded", len(entries))
	}
	r := b.raw("POST", "/v1/streams/"+s.ID+"/replay", "", "", nil)
	var links replayLinks
	if r.status != 200 || json.Unmarshal([]byte(r.body), &links) != nil || len(links.Parts) != 1 {
		t.Fatalf("replay from the other node: %d %s", r.status, r.body)
	}
	status, h, body := fetchRange(t, links.URL, 0, -1)
	if status != 206 || int64(len(body)) != recs[0].Bytes || h.Get("Content-Type") != "video/webm" {
		t.Fatalf("the part from the bucket: %d, %d bytes of %d, %v", status, len(body), recs[0].Bytes, h)
	}
	status, _, mid := fetchRange(t, links.URL, 1000, 1999)
	if status != 206 || !bytes.Equal(mid, body[1000:2000]) {
		t.Errorf("a range from the bucket: %d, %d bytes", status, len(mid))
	}
	sum, err := recording.Probe(bytes.NewReader(body))
	if err != nil || len(sum.Codecs) != 2 || !sum.Indexed || sum.Blocks["V_VP8"] < 50 {
		t.Errorf("the replay from the bucket: %+v %v", sum, err)
	}
}

// The free preview applies to the replay: a viewer without a ticket gets the first
// seconds (cut on a keyframe) and nothing past them; a buyer gets the whole show.
func TestReplayPreview(t *testing.T) {
	n := startAccessNode(t, nil)
	n.launchCountries()
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	if st := n.call("PATCH", "/v1/streams/"+s.ID, map[string]any{"preview_seconds": 2}, nil); st != 200 {
		t.Fatalf("set the preview: %d", st)
	}
	amina := n.buyer("viewer-amina", testenv.IPMorocco)
	amina.buyTicket(s.ID)
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	v := mustWatchToken(t, n, s, amina.mustAccess(s.ID).PlaybackToken)
	v.waitPackets(t, "video", 1, 10*time.Second)
	waitRecorded(t, n, s.ID, 4500*time.Millisecond)
	n.call("DELETE", "/v1/streams/"+s.ID, nil, nil)
	waitRecording(t, n, s.ID, store.RecordingComplete)

	duration := func(who buyer) (int64, string, replayLinks) {
		t.Helper()
		r := replayAs(t, who, s.ID)
		return r.sum.DurationMS, r.access, r.links
	}
	full, mode, _ := duration(amina)
	if mode != "ticket" || full < 4000 {
		t.Errorf("the buyer's replay: %s, %d ms", mode, full)
	}
	preview, mode, links := duration(n.buyer("viewer-karim", testenv.IPMorocco))
	if mode != "preview" || preview < 1900 || preview > 3000 || preview >= full {
		t.Errorf("the preview of the replay: %s, %d ms (the whole show %d ms), want about the first 2 s", mode, preview, full)
	}
	_, h, _ := fetchRange(t, links.URL, 0, 0)
	size, _ := strconv.ParseInt(h.Get("Content-Range")[strings.LastIndex(h.Get("Content-Range"), "/")+1:], 10, 64)
	if status, _, _ := fetchRange(t, links.URL, size, size+1000); status != 416 {
		t.Errorf("a range past the preview: %d, want 416", status)
	}
}

// replayed is a viewer's replay of a stream: the links, what access they give, and the
// first part as fetched whole and probed.
type replayed struct {
	links  replayLinks
	access string
	sum    recording.Summary
	size   int
}

// replayAs asks for who's replay of streamID and fetches and probes its first part.
func replayAs(t *testing.T, who buyer, streamID string) replayed {
	t.Helper()
	r := who.post("/v1/streams/" + streamID + "/replay")
	var out struct {
		replayLinks
		Access string `json:"access"`
	}
	if r.status != 200 || json.Unmarshal([]byte(r.body), &out) != nil {
		t.Fatalf("replay for %s: %d %s", who.id, r.status, r.body)
	}
	status, _, body := fetchRange(t, out.URL, 0, -1)
	if status != 206 {
		t.Fatalf("the part for %s: %d", who.id, status)
	}
	sum, err := recording.Probe(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return replayed{links: out.replayLinks, access: out.Access, sum: sum, size: len(body)}
}

// recordFree creates a recorded free stream on n.
func recordFree(t *testing.T, n *testNode) streamInfo {
	t.Helper()
	var c struct{ ID string }
	n.call("POST", "/v1/creators", map[string]any{"name": "Amina"}, &c)
	var s streamInfo
	if st := n.call("POST", "/v1/streams", map[string]any{"creator_id": c.ID, "title": "Free show", "record": true}, &s); st != 201 {
		t.Fatalf("create stream: %d", st)
	}
	return s
}

// probeRecording ends s, waits for its recording and reads its one part.
func probeRecording(t *testing.T, n *testNode, s streamInfo) recording.Summary {
	t.Helper()
	sum, _ := fetchRecording(t, n, s)
	return sum
}

// fetchRecording is probeRecording with the part's bytes.
func fetchRecording(t *testing.T, n *testNode, s streamInfo) (recording.Summary, []byte) {
	t.Helper()
	n.call("DELETE", "/v1/streams/"+s.ID, nil, nil)
	recs := waitRecording(t, n, s.ID, store.RecordingComplete)
	if len(recs) != 1 {
		t.Fatalf("parts: %+v, want one", recs)
	}
	r := n.raw("POST", "/v1/streams/"+s.ID+"/replay", "", "", nil)
	var links replayLinks
	if r.status != 200 || json.Unmarshal([]byte(r.body), &links) != nil {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	_, _, body := fetchRange(t, links.URL, 0, -1)
	sum, err := recording.Probe(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return sum, body
}

// A simulcast stream is recorded at its top layer.
func TestRecordingKeepsTheTopSimulcastLayer(t *testing.T) {
	n := startNode(t, nil)
	s := recordFree(t, n)
	publishSimulcast(t, n, s)
	mustWatch(t, n, s).waitPackets(t, "video", 30, 10*time.Second)
	waitRecorded(t, n, s.ID, 2*time.Second)
	sum := probeRecording(t, n, s)
	top := int64(simulcastLayers[len(simulcastLayers)-1].size - 1) // a packet's frame bytes: its payload less the VP8 descriptor
	if sum.Blocks["V_VP8"] < 30 || sum.Bytes["V_VP8"]%top != 0 {
		t.Errorf("the recorded video: %d frames, %d bytes, want frames of the %q layer (%d bytes a packet)",
			sum.Blocks["V_VP8"], sum.Bytes["V_VP8"], simulcastLayers[len(simulcastLayers)-1].rid, top)
	}
}

// An encoder that drops and comes back within the grace window continues the same part:
// one file, playing the whole show with the gap where the encoder was away.
func TestRecordingContinuesAcrossAnEncoderReconnect(t *testing.T) {
	parallelWait(t)
	n := startNode(t, nil)
	s := recordFree(t, n)
	first := publish(t, n, s, webrtc.MimeTypeVP8, 30)
	mustWatch(t, n, s).waitPackets(t, "video", 10, 10*time.Second)
	from := time.Now()
	// About time: a show of two seconds, an encoder away for one, two more seconds.
	time.Sleep(2 * time.Second) // about time: two seconds of show
	first.stop()                // the encoder goes; the stream waits for it
	before := first.video.Sent()
	time.Sleep(time.Second) // about time: the encoder away a second
	second := publish(t, n, s, webrtc.MimeTypeVP8, 30)
	time.Sleep(2 * time.Second) // about time: two more seconds
	show := time.Since(from)
	after := second.video.Sent()
	sum := probeRecording(t, n, s)
	t.Logf("recorded %+v of a %v show, %d + %d video packets sent", sum, show, before, after)
	if d := time.Duration(sum.DurationMS) * time.Millisecond; d < show-time.Second || d > show+time.Second {
		t.Errorf("the part plays %v, the show (with the encoder's gap) lasted %v", d, show)
	}
	if got := uint64(sum.Blocks["V_VP8"]); got < (before+after)*8/10 {
		t.Errorf("%d video frames recorded, %d sent by both connections", got, before+after)
	}
}

// A replay's free preview stops at its time plus a second, whatever the encoder's
// keyframe interval. An encoder that sent one keyframe for the whole show (it ignores
// requests) once gave a non-buyer the whole replay; one that answers requests is asked
// for a keyframe at least every 2 s while recorded, so seeks land near where asked.
func TestReplayPreviewWhateverTheKeyframeInterval(t *testing.T) {
	parallelWait(t)
	n := startAccessNode(t, nil)
	n.launchCountries()
	for _, ignores := range []bool{true, false} {
		t.Run(fmt.Sprintf("encoder-ignores-keyframe-requests=%v", ignores), func(t *testing.T) {
			_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
			if st := n.call("PATCH", "/v1/streams/"+s.ID, map[string]any{"preview_seconds": 5}, nil); st != 200 {
				t.Fatalf("set the preview: %d", st)
			}
			amina := n.buyer("viewer-amina-"+strconv.FormatBool(ignores), testenv.IPMorocco)
			amina.buyTicket(s.ID)
			video, err := mediagen.NewVideo(webrtc.MimeTypeVP8, 300_000)
			if err != nil {
				t.Fatal(err)
			}
			if ignores {
				video.AnswerKeyframeRequests = 1 // with KeyframeEvery 0: the first frame, and once when asked
			}
			p := publishSource(t, n, s, video)
			// No viewer: an encoder that ignores requests leaves a late joiner waiting for a
			// keyframe that never comes. About time: the recorder's requests have 12 s to
			// be answered or not.
			time.Sleep(12 * time.Second)
			p.stop()
			n.call("DELETE", "/v1/streams/"+s.ID, nil, nil)
			waitRecording(t, n, s.ID, store.RecordingComplete)

			fetch := func(who buyer) (recording.Summary, int, string) {
				t.Helper()
				r := replayAs(t, who, s.ID)
				return r.sum, r.size, r.access
			}
			whole, wholeBytes, _ := fetch(amina)
			if whole.DurationMS < 11_000 {
				t.Fatalf("the buyer's replay: %+v", whole)
			}
			preview, previewBytes, mode := fetch(n.buyer("viewer-karim-"+strconv.FormatBool(ignores), testenv.IPMorocco))
			t.Logf("keyframes at %v ms; the preview: %d of %d bytes, %d of %d ms", whole.KeyframesMS, previewBytes, wholeBytes, preview.DurationMS, whole.DurationMS)
			// The bytes say little (the seek index's reserved space comes first): the frames do.
			if mode != "preview" || preview.DurationMS > 6000 || preview.DurationMS < 4000 || preview.Blocks["V_VP8"] > whole.Blocks["V_VP8"]*6/11 {
				t.Errorf("a non-buyer's 5 s preview: %s, %d ms and %d frames of the show's %d ms and %d frames, want at most 6 s",
					mode, preview.DurationMS, preview.Blocks["V_VP8"], whole.DurationMS, whole.Blocks["V_VP8"])
			}
			if ignores {
				if len(whole.KeyframesMS) > 2 || video.PLIs() < 5 {
					t.Errorf("an encoder ignoring requests: keyframes at %v, %d requests, want one or two keyframes and requests at least every 2 s",
						whole.KeyframesMS, video.PLIs())
				}
				return
			}
			gap := int64(0)
			for i := 1; i < len(whole.KeyframesMS); i++ {
				gap = max(gap, whole.KeyframesMS[i]-whole.KeyframesMS[i-1])
			}
			if gap > 2100 || whole.DurationMS-whole.KeyframesMS[len(whole.KeyframesMS)-1] > 2100 {
				t.Errorf("keyframes in the recording at %v ms: up to %d ms apart, want 2 s at most", whole.KeyframesMS, gap)
			}
		})
	}
}

// A download in flight when the refund lands stops at its next chunk, not at the next
// request: a buyer reading a long part slowly gets no more of it a second or so after
// the refund's webhook.
func TestReplayDownloadStopsWhenRefunded(t *testing.T) {
	parallelWait(t)
	n := startAccessNode(t, nil)
	n.launchCountries()
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	omar := n.buyer("viewer-omar", testenv.IPMorocco)
	omar.buyTicket(s.ID)
	video, err := mediagen.NewVideo(webrtc.MimeTypeVP8, 12_000_000) // more than the node's socket buffers hold
	if err != nil {
		t.Fatal(err)
	}
	video.KeyframeEvery = 30
	p := publishSource(t, n, s, video)
	v := mustWatchToken(t, n, s, omar.mustAccess(s.ID).PlaybackToken)
	v.waitPackets(t, "video", 1, 10*time.Second)
	waitRecorded(t, n, s.ID, 5*time.Second) // a part larger than the socket buffers
	p.stop()
	n.call("DELETE", "/v1/streams/"+s.ID, nil, nil)
	recs := waitRecording(t, n, s.ID, store.RecordingComplete)
	links, r := omar.replay(s.ID)
	if r.status != 200 {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	// A player with a small receive buffer: the node can only write as fast as it reads.
	client := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 32<<10) })
		return errors.Join(err, serr)
	}}).DialContext}}
	resp, err := client.Get(links.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(resp.Body, head); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the start of the part: %d %v", resp.StatusCode, err)
	}
	n.deliver("evt_refund_in_flight", "charge.refunded", refundedCharge("pi_"+omar.id, 4900, true))
	// About time: the node re-checks a download's entitlement at most once a second, so
	// its next chunk, after this pause, is the first that sees the refund.
	time.Sleep(2 * time.Second)
	rest, err := io.ReadAll(resp.Body)
	got := int64(len(head) + len(rest))
	t.Logf("read %d of %d bytes (%v) after the refund", got, recs[0].Bytes, err)
	// What the node had written before the refund (its socket's send buffer, at most the
	// kernel's tcp_wmem maximum, and the player's receive buffer) may still arrive; not
	// the rest of the part.
	buffered := int64(4 << 20)
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 3 {
			buffered, _ = strconv.ParseInt(f[2], 10, 64)
		}
	}
	buffered += 1 << 20
	if recs[0].Bytes < int64(len(head))+buffered+(1<<20) {
		t.Fatalf("the part has %d bytes: too few to tell a stopped download (%d may be in buffers)", recs[0].Bytes, buffered)
	}
	if err == nil || got > int64(len(head))+buffered {
		t.Errorf("a download after its refund: %d of %d bytes, ended by %v, want cut short", got, recs[0].Bytes, err)
	}
}

// A fleet whose recordings stay on each node's disk (no bucket): any node serves a
// replay recorded on another, whole and in ranges, by reading it from the node that
// recorded it.
func TestFleetServesReplaysRecordedOnAnotherNode(t *testing.T) {
	parallelWait(t)
	fleet := fleetOf(t, 2, nil)
	a, b := fleet[0], fleet[1]
	s := recordFree(t, a)
	p := publish(t, a, s, webrtc.MimeTypeVP8, 30)
	mustWatch(t, a, s).waitPackets(t, "video", 10, 10*time.Second)
	waitRecorded(t, a, s.ID, 2*time.Second)
	p.stop()
	a.call("DELETE", "/v1/streams/"+s.ID, nil, nil)
	waitRecording(t, a, s.ID, store.RecordingComplete)

	links := func(n *testNode) replayLinks {
		r := n.raw("POST", "/v1/streams/"+s.ID+"/replay", "", "", nil)
		var l replayLinks
		if r.status != 200 || json.Unmarshal([]byte(r.body), &l) != nil || len(l.Parts) != 1 {
			t.Fatalf("replay links: %d %s", r.status, r.body)
		}
		return l
	}
	_, _, whole := fetchRange(t, links(a).Parts[0].URL, 0, -1)
	onB := links(b).Parts[0].URL
	if !strings.HasPrefix(onB, b.URL()) {
		t.Fatalf("B's link %s is not B's", onB)
	}
	status, _, got := fetchRange(t, onB, 0, -1)
	if status != 200 && status != 206 || !bytes.Equal(got, whole) {
		t.Fatalf("the part from B: %d, %d bytes; from A, where it was recorded: %d bytes", status, len(got), len(whole))
	}
	status, h, mid := fetchRange(t, onB, 1000, 1999)
	if status != 206 || !bytes.Equal(mid, whole[1000:2000]) || h.Get("Content-Range") != fmt.Sprintf("bytes 1000-1999/%d", len(whole)) {
		t.Fatalf("a range from B: %d %q, %d bytes", status, h.Get("Content-Range"), len(mid))
	}
	if _, err := recording.Probe(bytes.NewReader(got)); err != nil {
		t.Fatalf("the part from B does not play: %v", err)
	}
}

// The recordings' disk fills up mid-show: the part stops at once (its row no longer says
// "recording"), what was written is kept as an interrupted part that plays, the failure
// is counted, and the stream goes on live. Needs root, for a small tmpfs of its own.
func TestRecordingOnAFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		testservices.SkipHere(t, "a full disk needs a small tmpfs, which only root may mount")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a 2 MiB tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	n := startNode(t, func(c *config.Config) { c.RecordingsDir = dir })
	s := recordFree(t, n)
	video, err := mediagen.NewVideo(webrtc.MimeTypeVP8, 4_000_000) // fills 2 MiB in about 4 s
	if err != nil {
		t.Fatal(err)
	}
	video.KeyframeEvery = 30
	publishSource(t, n, s, video)
	v := mustWatch(t, n, s)
	v.waitPackets(t, "video", 10, 10*time.Second)

	var parts []store.Recording
	poll.Until(t, 15*time.Second, "the part stopped once the disk was full", func() error {
		var err error
		if parts, err = n.Store.Recordings(t.Context(), s.ID); err != nil {
			return err
		}
		return poll.Want(len(parts) == 1 && parts[0].State != store.RecordingInProgress, "parts %+v", parts)
	})
	if p := parts[0]; p.State != store.RecordingInterrupted || p.Bytes == 0 {
		t.Fatalf("the part after a full disk: %s with %d bytes, want interrupted with what was written", p.State, p.Bytes)
	}
	if got := scrape(t, n.URL()+"/metrics", "livegate_recording_failures_total"); got != 1 {
		t.Errorf("recording failures counted: %v, want 1", got)
	}
	v.waitPackets(t, "video", len(v.snapshot("video"))+30, 5*time.Second) // the show goes on

	n.call("DELETE", "/v1/streams/"+s.ID, nil, nil)
	r := n.raw("POST", "/v1/streams/"+s.ID+"/replay", "", "", nil)
	var links replayLinks
	if r.status != 200 || json.Unmarshal([]byte(r.body), &links) != nil || len(links.Parts) != 1 {
		t.Fatalf("replay of what was written: %d %s", r.status, r.body)
	}
	_, _, body := fetchRange(t, links.Parts[0].URL, 0, -1)
	sum, err := recording.Probe(bytes.NewReader(body))
	if err != nil || sum.Blocks["V_VP8"] == 0 || sum.DurationMS == 0 {
		t.Fatalf("what was written does not play: %+v %v", sum, err)
	}
	t.Logf("kept %d bytes: %+v", len(body), sum)
}
