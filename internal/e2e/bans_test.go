package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/testenv"
)

// A kicked viewer used to get a new token at once. An operator's ban (one stream, a
// creator's streams or every stream, until a time) ends the viewer's sessions it covers
// on every node, and /access and every WHEP join refuse the viewer on every node until
// it ends or is lifted, a token minted before the ban included.
func TestBannedViewerCannotComeBack(t *testing.T) {
	settings := accessSettings(t)
	a, b := startNode(t, settings), startNode(t, settings)
	a.launchCountries()
	creator, s := a.ticketStream("MA", map[string]int64{"MAD": 4900})
	var other streamInfo // the same creator's second stream
	a.call("POST", "/v1/streams", map[string]any{"creator_id": creator, "title": "Encore", "access_mode": "free"}, &other)
	elsewhere := a.newStream() // another creator's free stream
	for _, x := range []streamInfo{s, other, elsewhere} {
		publish(t, a, x, webrtc.MimeTypeVP8, 30)
	}
	amina := a.buyer("viewer-amina", testenv.IPMorocco)
	amina.buyTicket(s.ID)
	g := amina.mustAccess(s.ID)
	v := mustWatchToken(t, a, s, g.PlaybackToken)
	v.waitPackets(t, "video", 10, 10*time.Second)
	spare := amina.mustAccess(s.ID) // a token minted before the ban, not used yet

	// Kicked and banned from this stream for an hour, through the other node.
	at := time.Now()
	var kicked struct {
		Ban struct {
			ID, Scope string
			Until     time.Time
		}
	}
	if st := b.call("POST", "/v1/admin/sessions/"+g.SessionID+"/kick", map[string]any{"ban": map[string]any{"scope": "stream", "duration": "1h",
		"reason": "abuse in chat"}}, &kicked); st != 200 || kicked.Ban.Scope != "stream" || kicked.Ban.Until.Before(time.Now().Add(59*time.Minute)) {
		t.Fatalf("kick and ban: %d %+v", st, kicked)
	}
	cut := v.waitClosed(t, 3*time.Second).Sub(at)
	if cut > time.Second {
		t.Errorf("media kept flowing %v after the ban, want < 1s", cut)
	}
	t.Logf("last media %v after the kick and ban (through the other node)", cut.Round(time.Millisecond))
	for _, n := range []*testNode{a, b} {
		_, r := n.buyer("viewer-amina", testenv.IPMorocco).access(s.ID)
		expectProblem(t, "access after the ban", r, 403, "viewer-banned")
		if !strings.Contains(r.body, kicked.Ban.Until.UTC().Format(time.RFC3339)) {
			t.Errorf("the refusal does not say until when: %s", r.body)
		}
	}
	expectNoMedia(t, a, s, spare.PlaybackToken, 403, "viewer-banned")
	if _, r := amina.access(other.ID); r.status != 200 {
		t.Errorf("the creator's other stream, under a stream ban: %d %s", r.status, r.body)
	}

	// Banned from the creator's streams: the other stream too, not another creator's.
	var creatorBan struct {
		Ban           struct{ ID string }
		SessionsEnded int `json:"sessions_ended"`
	}
	if st := a.call("POST", "/v1/admin/bans", map[string]any{"viewer_id": amina.id, "creator_id": creator, "until": time.Now().Add(24 * time.Hour)}, &creatorBan); st != 201 {
		t.Fatalf("ban from the creator: %d", st)
	}
	_, r := amina.access(other.ID)
	expectProblem(t, "the creator's free stream under a creator ban", r, 403, "viewer-banned")
	if _, r := amina.access(elsewhere.ID); r.status != 200 {
		t.Errorf("another creator's stream: %d %s", r.status, r.body)
	}
	var list struct{ Bans []struct{ ID, Scope string } }
	if b.call("GET", "/v1/admin/bans?viewer_id="+amina.id, nil, &list); len(list.Bans) != 2 {
		t.Errorf("the viewer's bans: %+v", list.Bans)
	}
	for _, bad := range []map[string]any{
		{"viewer_id": amina.id, "duration": "-1h"},
		{"viewer_id": amina.id, "until": time.Now().Add(-time.Hour)},
		{"viewer_id": "", "duration": "1h"},
		{"viewer_id": amina.id, "stream_id": s.ID, "creator_id": creator, "duration": "1h"},
	} {
		expectProblem(t, "a bad ban", a.raw("POST", "/v1/admin/bans", "application/json", mustJSON(bad), a.operator()), 422, "invalid-field")
	}
	expectProblem(t, "a ban from no stream", a.raw("POST", "/v1/admin/bans", "application/json",
		mustJSON(map[string]any{"viewer_id": amina.id, "stream_id": "str_nothing", "duration": "1h"}), a.operator()), 404, "stream-not-found")

	// Lifted: the viewer is back on the creator's streams; the stream ban still holds.
	if st := b.call("DELETE", "/v1/admin/bans/"+creatorBan.Ban.ID, nil, nil); st != 200 {
		t.Fatalf("lift: %d", st)
	}
	if _, r := amina.access(other.ID); r.status != 200 {
		t.Errorf("after the lift: %d %s", r.status, r.body)
	}
	_, r = amina.access(s.ID)
	expectProblem(t, "the stream ban after the creator ban's lift", r, 403, "viewer-banned")
	var audit struct{ Audit []struct{ Object string } }
	a.call("GET", "/v1/admin/audit?object=ban:"+amina.id, nil, &audit)
	if len(audit.Audit) != 2 {
		t.Errorf("bans in the audit log: %+v", audit.Audit)
	}
}
