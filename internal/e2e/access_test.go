package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/internal/testservices"
	"github.com/livegate/livegate/internal/whipclient"
)

const playbackSecret = "e2e-playback-secret-0123456789abcdef"

// accessSettings are moneySettings plus viewer sessions in Redis under a prefix of this
// test, shared by every node given them.
func accessSettings(t *testing.T) func(*config.Config) {
	t.Helper()
	money, redisURL, prefix := moneySettings(t), testenv.RedisURL(t), testenv.UniquePrefix()
	return chain(money, func(c *config.Config) {
		c.RedisURL, c.RedisPrefix = redisURL, prefix
		c.PlaybackSecret, c.SessionTTL = playbackSecret, 3*time.Second
	})
}

func startAccessNode(t *testing.T, mutate func(*config.Config)) *testNode {
	t.Helper()
	return startNode(t, chain(accessSettings(t), mutate))
}

type accessGrant struct {
	PlaybackToken      string `json:"playback_token"`
	SessionID          string `json:"session_id"`
	WHEPURL            string `json:"whep_url"`
	Access             string `json:"access"`
	PreviewSecondsLeft int    `json:"preview_seconds_left"`
}

func (b buyer) access(streamID string) (accessGrant, rawResponse) {
	r := b.post("/v1/streams/" + streamID + "/access")
	var g accessGrant
	if r.status == 200 {
		_ = json.Unmarshal([]byte(r.body), &g)
	}
	return g, r
}

func (b buyer) mustAccess(streamID string) accessGrant {
	b.n.t.Helper()
	g, r := b.access(streamID)
	if r.status != 200 || g.PlaybackToken == "" {
		b.n.t.Fatalf("access for %s: %d %s", b.id, r.status, r.body)
	}
	return g
}

// buyTicket buys a ticket the way a viewer does: checkout, then Stripe's verified webhook.
func (b buyer) buyTicket(streamID string) {
	b.n.t.Helper()
	co := b.checkout("/v1/streams/" + streamID + "/checkout")
	b.n.deliver("evt_buy_"+b.id, "checkout.session.completed", completedSession(co, "pi_"+b.id))
}

func (n *testNode) sessionEnded(id string) string {
	var out struct{ State, Reason string }
	n.call("GET", "/v1/sessions/"+id, nil, &out)
	if out.State != "ended" {
		return ""
	}
	return out.Reason
}

// waitClosed waits for the viewer's connection to end and returns when its last RTP came.
func (v *viewer) waitClosed(t *testing.T, within time.Duration) time.Time {
	t.Helper()
	select {
	case <-v.closed:
	case <-time.After(within):
		t.Fatalf("viewer still connected %v later", within)
	}
	time.Sleep(300 * time.Millisecond) // anything still in flight
	last := time.Time{}
	for _, k := range []string{"video", "audio"} {
		if p := v.snapshot(k); len(p) > 0 && p[len(p)-1].at.After(last) {
			last = p[len(p)-1].at
		}
	}
	return last
}

func expectNoMedia(t *testing.T, n *testNode, s streamInfo, token string, status int, typ string) {
	t.Helper()
	v, err := watchWithToken(t, n, s, token)
	var werr *whipclient.Error
	if err == nil || !errors.As(err, &werr) {
		if v != nil {
			time.Sleep(500 * time.Millisecond)
			t.Fatalf("joined without access; got %d packets", len(v.snapshot("video")))
		}
		t.Fatalf("join error %v", err)
	}
	if werr.Status != status || !strings.Contains(werr.Body, "/problems/"+typ) {
		t.Fatalf("join refused with %d %s, want %d %s", werr.Status, werr.Body, status, typ)
	}
}

// No entitlement, no media; a ticket bought through the webhook opens it; a refund
// cuts it within a second.
func TestPaidAccessAndRefundCutsMedia(t *testing.T) {
	n := startAccessNode(t, nil)
	n.launchCountries()
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	amina := n.buyer("viewer-amina", testenv.IPMorocco)

	expectNoMedia(t, n, s, "", 401, "playback-token-invalid")
	expectProblem(t, "access without viewer token", n.raw("POST", "/v1/streams/"+s.ID+"/access", "", "", nil), 401, "viewer-unauthorized")
	_, r := amina.access(s.ID)
	expectProblem(t, "access without a ticket", r, 402, "payment-required")
	var pr struct {
		Checkout struct{ Href, Method string }
		Price    struct {
			Currency string
			Amount   int64
			Display  string
		}
	}
	_ = json.Unmarshal([]byte(r.body), &pr)
	if pr.Checkout.Href != "/v1/streams/"+s.ID+"/checkout" || pr.Price.Display != "MAD 49.00" || pr.Price.Amount != 4900 {
		t.Fatalf("402 body %s", r.body)
	}
	expectProblem(t, "access from Egypt (not launched)", n.buyer("viewer-eg", testenv.IPEgypt).post("/v1/streams/"+s.ID+"/access"), 451, "country-not-enabled")

	amina.buyTicket(s.ID)
	g := amina.mustAccess(s.ID)
	if g.Access != "ticket" || !strings.HasSuffix(g.WHEPURL, "/whep/"+s.ID) {
		t.Fatalf("grant %+v", g)
	}
	v, err := watchWithToken(t, n, s, g.PlaybackToken)
	if err != nil {
		t.Fatalf("watch with ticket: %v", err)
	}
	v.waitPackets(t, "video", 20, 10*time.Second)
	checkStream(t, "paid video", v.snapshot("video"), true)

	revokedAt := time.Now()
	n.deliver("evt_refund", "charge.refunded", refundedCharge("pi_"+amina.id, 4900, true))
	last := v.waitClosed(t, 3*time.Second)
	if cut := last.Sub(revokedAt); cut > time.Second {
		t.Fatalf("media kept flowing %v after the refund, want < 1s", cut)
	}
	t.Logf("last RTP %v after the refund webhook", last.Sub(revokedAt))
	if reason := n.sessionEnded(g.SessionID); !strings.Contains(reason, "refunded") {
		t.Fatalf("session end reason %q", reason)
	}
	_, r = amina.access(s.ID)
	expectProblem(t, "access after refund", r, 402, "payment-required")
}

func TestConcurrentSessions(t *testing.T) {
	n := startAccessNode(t, nil)
	n.launchCountries()
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	b := n.buyer("viewer-omar", testenv.IPMorocco)
	b.buyTicket(s.ID)

	first := mustWatchToken(t, n, s, b.mustAccess(s.ID).PlaybackToken)
	first.waitPackets(t, "video", 5, 10*time.Second)
	// Default: one session per viewer and ticket; the second is refused.
	expectNoMedia(t, n, s, b.mustAccess(s.ID).PlaybackToken, 409, "session-limit")

	// Replace policy: the new session wins and the old one is dropped.
	var out map[string]any
	if st := n.call("PATCH", "/v1/streams/"+s.ID, map[string]any{"session_policy": "replace"}, &out); st != 200 {
		t.Fatalf("patch: %d %v", st, out)
	}
	g := b.mustAccess(s.ID)
	second, err := watchWithToken(t, n, s, g.PlaybackToken)
	if err != nil {
		t.Fatalf("replacing session: %v", err)
	}
	first.waitClosed(t, 3*time.Second)
	second.waitPackets(t, "video", 10, 10*time.Second)
	// A playback token opens one session only.
	expectNoMedia(t, n, s, g.PlaybackToken, 401, "playback-token-invalid")
}

func TestPreviewEndsAndDoesNotReset(t *testing.T) {
	n := startAccessNode(t, nil)
	n.launchCountries()
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	if st := n.call("PATCH", "/v1/streams/"+s.ID, map[string]any{"preview_seconds": 3}, nil); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	b := n.buyer("viewer-curious", testenv.IPMorocco)

	g := b.mustAccess(s.ID)
	if g.Access != "preview" || g.PreviewSecondsLeft != 3 {
		t.Fatalf("grant %+v, want a 3 s preview", g)
	}
	v := mustWatchToken(t, n, s, g.PlaybackToken)
	v.waitPackets(t, "video", 10, 5*time.Second)
	time.Sleep(1500 * time.Millisecond)                        // about time: half the 3 s preview watched
	if err := v.sess.Close(context.Background()); err != nil { // the viewer reloads the page
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)

	g2 := b.mustAccess(s.ID)
	if g2.Access != "preview" || g2.PreviewSecondsLeft >= 3 || g2.PreviewSecondsLeft < 0 {
		t.Fatalf("after reconnecting: %+v, want less than 3 s left", g2)
	}
	v2 := mustWatchToken(t, n, s, g2.PlaybackToken)
	start := time.Now()
	v2.waitPackets(t, "video", 3, 5*time.Second)
	v2.waitClosed(t, 4*time.Second)
	if watched := time.Since(start); watched > 3*time.Second {
		t.Fatalf("second preview lasted %v; the preview reset", watched)
	}
	if reason := n.sessionEnded(g2.SessionID); reason != "preview ended" {
		t.Fatalf("end reason %q, want \"preview ended\"", reason)
	}
	_, r := b.access(s.ID)
	expectProblem(t, "after the preview", r, 402, "payment-required")
}

func TestPlaybackTokensRefused(t *testing.T) {
	n := startAccessNode(t, nil)
	n.launchCountries()
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	_, other := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	b := n.buyer("viewer-t", testenv.IPMorocco)
	b.buyTicket(s.ID)

	mint := func(secret string, stream string, exp time.Time) string {
		claims := jwt.MapClaims{"sub": b.id, "jti": "sess-" + strconv.FormatInt(time.Now().UnixNano(), 10), "str": stream,
			"ent": "ent_x", "aud": "livegate-playback", "exp": exp.Unix()}
		tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
		return tok
	}
	expectNoMedia(t, n, s, mint("forged-secret-forged-secret-forged", s.ID, time.Now().Add(time.Minute)), 401, "playback-token-invalid")
	expectNoMedia(t, n, s, mint(playbackSecret, s.ID, time.Now().Add(-time.Minute)), 401, "playback-token-invalid")
	expectNoMedia(t, n, s, mint(playbackSecret, other.ID, time.Now().Add(time.Minute)), 401, "playback-token-invalid")
	expectNoMedia(t, n, s, "not-a-token", 401, "playback-token-invalid")
	expectNoMedia(t, n, s, b.mustAccess(s.ID).PlaybackToken+"x", 401, "playback-token-invalid")
}

func TestKickStatsAndCollect(t *testing.T) {
	n := startAccessNode(t, nil)
	s := n.newStream() // free
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	a, b := n.buyer("fan-a", testenv.IPFrance), n.buyer("fan-b", testenv.IPUSA)
	va := mustWatchToken(t, n, s, a.mustAccess(s.ID).PlaybackToken)
	vb := mustWatchToken(t, n, s, b.mustAccess(s.ID).PlaybackToken)
	anon := mustWatch(t, n, s) // free streams need no token
	for _, v := range []*viewer{va, vb, anon} {
		v.waitPackets(t, "video", 5, 10*time.Second)
	}
	for _, who := range []buyer{a, a, b} {
		if r := who.post("/v1/streams/" + s.ID + "/collect"); r.status != 200 {
			t.Fatalf("collect: %d %s", r.status, r.body)
		}
	}
	var st struct {
		Viewers       int `json:"viewers"`
		UniqueViewers int `json:"unique_viewers"`
		Collects      int `json:"collects"`
	}
	r := n.raw("GET", "/v1/streams/"+s.ID+"/stats", "", "", nil)
	_ = json.Unmarshal([]byte(r.body), &st)
	if st.Viewers != 3 || st.UniqueViewers != 3 || st.Collects != 2 {
		t.Fatalf("stats %s, want 3 viewers, 3 unique, 2 collects", r.body)
	}

	// The studio's live feed.
	req, _ := http.NewRequest("GET", n.URL()+"/v1/streams/"+s.ID+"/stats/events", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	line := ""
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			line = sc.Text()
			break
		}
	}
	resp.Body.Close()
	if !strings.Contains(line, `"viewers":3`) {
		t.Fatalf("SSE first event %q", line)
	}

	var list struct {
		Sessions []struct {
			ID       string `json:"id"`
			ViewerID string `json:"viewer_id"`
			Country  string `json:"country"`
			NodeID   string `json:"node_id"`
		}
	}
	n.call("GET", "/v1/admin/sessions?stream="+s.ID, nil, &list)
	target := ""
	for _, x := range list.Sessions {
		if x.ViewerID == b.id {
			target = x.ID
			if x.Country != "US" || x.NodeID != "test" {
				t.Errorf("session %+v", x)
			}
		}
	}
	if len(list.Sessions) != 3 || target == "" {
		t.Fatalf("sessions %+v", list.Sessions)
	}
	kickedAt := time.Now()
	if st := n.call("POST", "/v1/admin/sessions/"+target+"/kick", nil, nil); st != 200 {
		t.Fatalf("kick: %d", st)
	}
	if last := vb.waitClosed(t, 3*time.Second); last.Sub(kickedAt) > time.Second {
		t.Fatalf("kicked viewer got media %v later", last.Sub(kickedAt))
	}
	if reason := n.sessionEnded(target); reason != "kicked by an operator" {
		t.Fatalf("kick reason %q", reason)
	}
	va.waitPackets(t, "video", len(va.snapshot("video"))+10, 2*time.Second) // kicking one viewer stops no other
	expectProblem(t, "kick unknown", n.raw("POST", "/v1/admin/sessions/nope/kick", "", "", map[string]string{"Authorization": "Bearer " + testAPIKey}), 404, "session-not-found")
}

func freePort(t *testing.T) int {
	_, port, _ := net.SplitHostPort(testenv.FreeAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

// Redis stopped mid-stream: the viewer keeps watching, new joins get 503, and when Redis
// returns every live session is registered again and joins work.
func TestRedisOutage(t *testing.T) {
	rd := testservices.StartRedis(t)
	n := startNode(t, func(c *config.Config) {
		c.RedisURL = rd.URL
		c.SessionTTL = 3 * time.Second
	})
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	v := mustWatch(t, n, s)
	v.waitPackets(t, "video", 10, 10*time.Second)

	rd.Stop(t)
	before := len(v.snapshot("video"))
	r := n.raw("POST", "/whep/"+s.ID, "application/sdp", offerSDP(t, false), nil)
	expectProblem(t, "join while Redis is down", r, 503, "sessions-unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	v.waitPackets(t, "video", before+30, 3*time.Second) // media flows on while Redis is down

	rd.Start(t) // empty: nothing was saved
	poll.Until(t, 5*time.Second, "the live session re-registered after Redis came back", func() error {
		var list struct{ Sessions []struct{ ID string } }
		n.call("GET", "/v1/admin/sessions?stream="+s.ID, nil, &list)
		return poll.Want(len(list.Sessions) == 1, "%d listed", len(list.Sessions))
	})
	v2 := mustWatch(t, n, s)
	v2.waitPackets(t, "video", 5, 10*time.Second)
}

// Two nodes sharing PostgreSQL and Redis: the refund webhook lands on node A, the viewer
// watches on node B, and B cuts the media within a second; an operator on A kicks a
// viewer on B the same way. Once with the encoder on B, once on A, B relaying it (an
// edge).
func TestRevocationReachesEveryNode(t *testing.T) {
	t.Run("encoder on the viewers' node", func(t *testing.T) { testRevocationReachesEveryNode(t, false) })
	t.Run("viewers on an edge", func(t *testing.T) { testRevocationReachesEveryNode(t, true) })
}

func testRevocationReachesEveryNode(t *testing.T, edge bool) {
	shared := accessSettings(t)
	a := startNode(t, chain(shared, func(c *config.Config) { c.NodeID = "node-a" }))
	b := startNode(t, chain(shared, func(c *config.Config) { c.NodeID = "node-b" }))
	a.launchCountries()
	_, s := a.ticketStream("MA", map[string]int64{"MAD": 4900})
	if edge {
		publish(t, a, s, webrtc.MimeTypeVP8, 30)
	} else {
		publish(t, b, s, webrtc.MimeTypeVP8, 30)
	}

	buyerA := a.buyer("viewer-two-nodes", testenv.IPMorocco)
	buyerA.buyTicket(s.ID)
	g := buyerA.mustAccess(s.ID) // a token from node A is good on node B
	v, err := watchWithToken(t, b, s, g.PlaybackToken)
	if err != nil {
		t.Fatalf("watch on node B: %v", err)
	}
	v.waitPackets(t, "video", 10, 10*time.Second)

	other := a.buyer("viewer-kicked", testenv.IPMorocco)
	other.buyTicket(s.ID)
	g2 := other.mustAccess(s.ID)
	v2 := mustWatchToken(t, b, s, g2.PlaybackToken)
	v2.waitPackets(t, "video", 10, 10*time.Second)

	revokedAt := time.Now()
	a.deliver("evt_refund_two_nodes", "charge.refunded", refundedCharge("pi_"+buyerA.id, 4900, true))
	if cut := v.waitClosed(t, 3*time.Second).Sub(revokedAt); cut > time.Second {
		t.Fatalf("node B kept sending %v after node A got the refund", cut)
	}
	kickedAt := time.Now()
	if st := a.call("POST", "/v1/admin/sessions/"+g2.SessionID+"/kick", nil, nil); st != 200 {
		t.Fatalf("kick via node A: %d", st)
	}
	if cut := v2.waitClosed(t, 3*time.Second).Sub(kickedAt); cut > time.Second {
		t.Fatalf("node B kept sending %v after the kick on node A", cut)
	}
}
