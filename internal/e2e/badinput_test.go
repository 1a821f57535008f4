package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/mediagen"
	"github.com/livegate/livegate/internal/poll"
)

type rawResponse struct {
	status  int
	header  http.Header
	body    string
	problem struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Field  string `json:"field"`
	}
}

func (n *testNode) raw(method, path, contentType, body string, header map[string]string) rawResponse {
	n.t.Helper()
	req, _ := http.NewRequest(method, n.URL()+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := rawResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		if err := json.Unmarshal(b, &r.problem); err != nil {
			n.t.Fatalf("problem+json body does not parse: %v: %s", err, b)
		}
	}
	return r
}

func expectProblem(t *testing.T, what string, r rawResponse, status int, typ string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d (body %s)", what, r.status, status, r.body)
		return
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("%s: content type %q, want application/problem+json", what, ct)
		return
	}
	if r.problem.Type != "/problems/"+typ || r.problem.Status != status {
		t.Errorf("%s: problem %+v, want type /problems/%s", what, r.problem, typ)
	}
}

// offerSDP is a real pion offer: sendonly VP8+Opus for WHIP, recvonly for WHEP.
func offerSDP(t *testing.T, send bool) string {
	t.Helper()
	pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if send {
		v, _ := mediagen.NewVideo(webrtc.MimeTypeVP8, 300_000)
		a, _ := mediagen.NewOpus()
		for _, tr := range []webrtc.TrackLocal{v.Track, a.Track} {
			if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				t.Fatal(err)
			}
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// onlyPCMU is a well-formed offer whose only codec livegate does not relay.
const onlyPCMU = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n" +
	"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
	"a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n" +
	"a=setup:actpass\r\na=rtpmap:0 PCMU/8000\r\n"

func TestWHIPBadInput(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	key := map[string]string{"Authorization": "Bearer " + s.StreamKey}
	good := offerSDP(t, true)
	path := "/whip/" + s.ID

	expectProblem(t, "wrong content type", n.raw("POST", path, "text/plain", good, key), 415, "unsupported-media-type")
	expectProblem(t, "no content type", n.raw("POST", path, "", good, key), 415, "unsupported-media-type")
	expectProblem(t, "malformed SDP", n.raw("POST", path, "application/sdp", "v=0\r\nthis is not sdp\r\n", key), 400, "bad-sdp")
	expectProblem(t, "empty SDP", n.raw("POST", path, "application/sdp", "", key), 400, "bad-sdp")
	expectProblem(t, "codec-less SDP", n.raw("POST", path, "application/sdp", onlyPCMU, key), 400, "unsupported-codec")
	expectProblem(t, "recvonly offer to WHIP", n.raw("POST", path, "application/sdp", offerSDP(t, false), key), 400, "unsupported-codec")
	expectProblem(t, "unknown stream", n.raw("POST", "/whip/str_nope", "application/sdp", good, key), 404, "stream-not-found")
	bad := n.raw("POST", path, "application/sdp", good, map[string]string{"Authorization": "Bearer sk_wrong"})
	expectProblem(t, "bad key", bad, 401, "bad-stream-key")
	if bad.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	expectProblem(t, "no key", n.raw("POST", path, "application/sdp", good, nil), 401, "bad-stream-key")
	huge := good + strings.Repeat("a=x-padding:"+strings.Repeat("x", 1000)+"\r\n", 70)
	expectProblem(t, "body over 64 KiB", n.raw("POST", path, "application/sdp", huge, key), 413, "body-too-large")
	if st := n.stream(s.ID).State; st != "scheduled" {
		t.Fatalf("bad requests changed the stream to %s", st)
	}
	expectProblem(t, "WHEP before live", n.raw("POST", "/whep/"+s.ID, "application/sdp", offerSDP(t, false), nil), 409, "stream-not-live")

	// A second offer with the key is the encoder reconnecting: it takes over (see
	// TestReconnectTakesOver), it is not refused.
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	if res := n.raw("POST", path, "application/sdp", good, key); res.status != 201 {
		t.Errorf("second publisher with the stream key: %d %s, want 201 (takeover)", res.status, res.body)
	}
	expectProblem(t, "WHEP with SDP garbage", n.raw("POST", "/whep/"+s.ID, "application/sdp", "garbage", nil), 400, "bad-sdp")
	expectProblem(t, "WHEP wrong type", n.raw("POST", "/whep/"+s.ID, "application/json", "{}", nil), 415, "unsupported-media-type")
}

func TestSessionPatchAndDelete(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	pub := publish(t, n, s, webrtc.MimeTypeVP8, 30)
	v := mustWatch(t, n, s)
	v.waitPackets(t, "video", 10, 10*time.Second)
	ctx := context.Background()
	loc := strings.TrimPrefix(v.sess.Location, n.URL())
	if !strings.HasPrefix(loc, "/whep/"+s.ID+"/") || v.sess.ETag == "" {
		t.Fatalf("WHEP session Location %q ETag %q", v.sess.Location, v.sess.ETag)
	}

	expectProblem(t, "PATCH wrong type", n.raw("PATCH", loc, "application/sdp", "a=candidate:1", nil), 415, "unsupported-media-type")
	expectProblem(t, "PATCH garbage", n.raw("PATCH", loc, "application/trickle-ice-sdpfrag", "hello\r\n", nil), 400, "bad-sdpfrag")
	expectProblem(t, "PATCH bad candidate", n.raw("PATCH", loc, "application/trickle-ice-sdpfrag", "a=candidate:nonsense\r\n", nil), 400, "bad-sdpfrag")
	expectProblem(t, "PATCH unknown session", n.raw("PATCH", "/whep/"+s.ID+"/feedfacefeedfacefeedface", "application/trickle-ice-sdpfrag", "", nil), 404, "session-not-found")
	expectProblem(t, "PATCH stale ETag", n.raw("PATCH", loc, "application/trickle-ice-sdpfrag", "", map[string]string{"If-Match": `"stale"`}), 412, "etag-mismatch")

	// Trickle: a further candidate of the viewer is accepted.
	frag := "a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n"
	resp, _, err := v.sess.Patch(ctx, frag, v.sess.ETag)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("trickle PATCH: %v %v", resp.StatusCode, err)
	}

	// ICE restart: new credentials need If-Match: *; after a real client-driven restart
	// media keeps arriving over the new ICE session.
	restart := "a=ice-ufrag:newu\r\na=ice-pwd:newpasswordnewpassword12\r\n"
	expectProblem(t, "restart without If-Match", n.raw("PATCH", loc, "application/trickle-ice-sdpfrag", restart, nil), 428, "if-match-required")
	oldETag := v.sess.ETag
	if err := v.sess.RestartICE(ctx); err != nil {
		t.Fatalf("ICE restart: %v", err)
	}
	if v.sess.ETag == oldETag || v.sess.ETag == "" {
		t.Errorf("ETag %q after ICE restart, was %q", v.sess.ETag, oldETag)
	}
	before := len(v.snapshot("video"))
	v.waitPackets(t, "video", before+30, 10*time.Second)
	if st := v.state.Load(); st != webrtc.PeerConnectionStateConnected {
		t.Errorf("viewer state %v after ICE restart", st)
	}

	// DELETE ends the viewer; the publisher's session needs its key.
	if err := v.sess.Close(ctx); err != nil {
		t.Fatalf("WHEP DELETE: %v", err)
	}
	expectProblem(t, "DELETE again", n.raw("DELETE", loc, "", "", nil), 404, "session-not-found")
	// Both registries forget the viewer: the WHEP resources and the gate's live sessions.
	poll.Until(t, 2*time.Second, "the viewer forgotten after DELETE", func() error {
		return poll.Want(n.WHIP.Sessions() == 1 && len(n.Gate.Live()) == 0,
			"%d WHIP/WHEP resources (want the publisher's only), %d live sessions", n.WHIP.Sessions(), len(n.Gate.Live()))
	})
	whipLoc := strings.TrimPrefix(pub.sess.Location, n.URL())
	expectProblem(t, "WHIP DELETE without key", n.raw("DELETE", whipLoc, "", "", nil), 401, "bad-stream-key")
	if n.stream(s.ID).State != "live" {
		t.Fatal("stream not live after viewer left")
	}
}

func TestAPIBadInput(t *testing.T) {
	n := startNode(t, nil)
	expectProblem(t, "no API key", n.raw("GET", "/v1/streams", "", "", nil), 401, "unauthorized")
	auth := map[string]string{"Authorization": "Bearer " + testAPIKey}
	expectProblem(t, "wrong API key", n.raw("GET", "/v1/streams", "", "", map[string]string{"Authorization": "Bearer nope"}), 401, "unauthorized")
	expectProblem(t, "malformed JSON", n.raw("POST", "/v1/creators", "application/json", "{", auth), 400, "bad-json")
	expectProblem(t, "unknown field", n.raw("POST", "/v1/creators", "application/json", `{"name":"a","admin":true}`, auth), 400, "bad-json")
	r := n.raw("POST", "/v1/creators", "application/json", `{"name":"  "}`, auth)
	expectProblem(t, "empty name", r, 422, "invalid-field")
	if r.problem.Field != "name" {
		t.Errorf("422 names field %q, want name", r.problem.Field)
	}
	r = n.raw("POST", "/v1/streams", "application/json", `{"creator_id":"cr_x","title":"t","access_mode":"ticket"}`, auth)
	expectProblem(t, "unknown access mode", r, 422, "invalid-field")
	r = n.raw("POST", "/v1/streams", "application/json", `{"creator_id":"cr_x","title":"t"}`, auth)
	expectProblem(t, "unknown creator", r, 422, "invalid-field")
	if r.problem.Field != "creator_id" {
		t.Errorf("422 names field %q, want creator_id", r.problem.Field)
	}
	big := `{"name":"` + strings.Repeat("x", 70<<10) + `"}`
	expectProblem(t, "huge JSON", n.raw("POST", "/v1/creators", "application/json", big, auth), 413, "body-too-large")
	expectProblem(t, "bad state filter", n.raw("GET", "/v1/streams?state=paused", "", "", auth), 400, "invalid-query")
	expectProblem(t, "unknown stream", n.raw("GET", "/v1/streams/str_nope", "", "", auth), 404, "stream-not-found")
	expectProblem(t, "end unknown stream", n.raw("DELETE", "/v1/streams/str_nope", "", "", auth), 404, "stream-not-found")
	expectProblem(t, "unknown route", n.raw("GET", "/v1/nothing", "", "", auth), 404, "not-found")
}

func TestStreamAPILifecycle(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	if !strings.HasSuffix(s.WHIPURL, "/whip/"+s.ID) || s.State != "scheduled" {
		t.Fatalf("created stream %+v", s)
	}
	var got map[string]any
	n.call("GET", "/v1/streams/"+s.ID, nil, &got)
	if _, leaked := got["stream_key"]; leaked {
		t.Fatal("stream key shown again after creation")
	}
	var list struct{ Streams []streamInfo }
	n.call("GET", "/v1/streams?state=live", nil, &list)
	if len(list.Streams) != 0 {
		t.Fatalf("live streams before publishing: %d", len(list.Streams))
	}
	// A publisher whose connection never comes up does not start (or end) the broadcast.
	key := map[string]string{"Authorization": "Bearer " + s.StreamKey}
	r := n.raw("POST", "/whip/"+s.ID, "application/sdp", offerSDP(t, true), key)
	if r.status != 201 {
		t.Fatalf("WHIP POST: %d %s", r.status, r.body)
	}
	if st := n.raw("DELETE", r.header.Get("Location"), "", "", key); st.status != 200 {
		t.Fatalf("WHIP DELETE before connecting: %d", st.status)
	}
	time.Sleep(200 * time.Millisecond)
	if st := n.stream(s.ID).State; st != "scheduled" {
		t.Fatalf("stream %s after a publisher that never connected, want scheduled", st)
	}

	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	poll.Until(t, 5*time.Second, "the stream listed live while publishing", func() error {
		n.call("GET", "/v1/streams?state=live", nil, &list)
		return poll.Want(len(list.Streams) == 1 && list.Streams[0].ID == s.ID, "live streams %+v", list.Streams)
	})
	v := mustWatch(t, n, s)
	v.waitPackets(t, "video", 5, 10*time.Second)

	// Ending the stream through the API disconnects everyone and is final.
	var ended streamInfo
	if st := n.call("DELETE", "/v1/streams/"+s.ID, nil, &ended); st != 200 || ended.State != "ended" {
		t.Fatalf("DELETE stream: %d %+v", st, ended)
	}
	select {
	case <-v.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("viewer still connected after the stream was ended")
	}
	expectProblem(t, "publish to ended stream", n.raw("POST", "/whip/"+s.ID, "application/sdp", offerSDP(t, true), key), 409, "stream-ended")
}

// SIGTERM: new joins are refused at once while media keeps flowing for the grace period.
func TestShutdownDrains(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.ShutdownGrace = 2 * time.Second })
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	v := mustWatch(t, n, s)
	v.waitPackets(t, "video", 5, 10*time.Second)

	stopped := make(chan error, 1)
	go func() { stopped <- n.Stop() }()
	poll.Until(t, 2*time.Second, "/readyz failing once the node drains", func() error {
		r := n.raw("GET", "/readyz", "", "", nil)
		return poll.Want(r.status == 503, "/readyz %d", r.status)
	})
	expectProblem(t, "join while draining", n.raw("POST", "/whep/"+s.ID, "application/sdp", offerSDP(t, false), nil), 503, "draining")
	v.waitPackets(t, "video", len(v.snapshot("video"))+10, time.Second) // media flows on during the grace period
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("node did not stop after its grace period")
	}
	select {
	case <-v.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("viewer still connected after shutdown")
	}
}
