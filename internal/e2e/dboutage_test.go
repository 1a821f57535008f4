package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/internal/testservices"
)

// PostgreSQL goes away while a stream is live: the node says it is not ready (its
// liveness holds), the media and its viewers go on, a new viewer of the live free stream
// it serves still joins, what needs the database is refused with 503 store-unavailable
// and Retry-After (never a 500), and the stream its encoder ended meanwhile is ended,
// with the time it ended, once PostgreSQL is back.
func TestDatabaseOutage(t *testing.T) {
	pg := testservices.StartPostgres(t)
	n := startProcess(t, pg.URL, nil, nil)
	s := n.newStream()
	idle := n.newStream() // not live: nothing of it is held
	pub := publish(t, n, s, webrtc.MimeTypeVP8, 30)
	v := mustWatch(t, n, s)
	v.waitPackets(t, "video", 10, 10*time.Second)

	pg.Stop(t)
	poll.Until(t, 5*time.Second, "/readyz failing with the database away", func() error {
		r := n.raw("GET", "/readyz", "", "", nil)
		return poll.Want(r.status == 503, "/readyz %d", r.status)
	})
	r := n.raw("GET", "/readyz", "", "", nil)
	expectProblem(t, "/readyz with the database away", r, 503, "store-unavailable")
	if r := n.raw("GET", "/healthz", "", "", nil); r.status != 200 {
		t.Errorf("/healthz with the database away: %d (liveness must hold)", r.status)
	}

	v.waitPackets(t, "video", len(v.snapshot("video"))+30, 5*time.Second) // media goes on
	late := mustWatch(t, n, s)                                            // decided from what the node holds
	late.waitPackets(t, "video", 10, 10*time.Second)

	key := map[string]string{"Authorization": "Bearer " + n.apiKey()}
	for what, r := range map[string]rawResponse{
		"create a stream":             n.raw("POST", "/v1/streams", "application/json", `{"creator_id":"cr_x","title":"t"}`, key),
		"the catalog":                 n.raw("GET", "/v1/streams", "", "", key),
		"WHIP to a stream not held":   n.raw("POST", "/whip/"+idle.ID, "application/sdp", offerSDP(t, true), map[string]string{"Authorization": "Bearer " + idle.StreamKey}),
		"WHEP to a stream not held":   n.raw("POST", "/whep/"+idle.ID, "application/sdp", offerSDP(t, false), nil),
		"access to a stream not held": n.raw("POST", "/v1/streams/"+idle.ID+"/access", "application/json", "{}", nil),
	} {
		expectProblem(t, what+" with the database away", r, 503, "store-unavailable")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", what)
		}
	}

	// The encoder ends the show while the database is away.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	endedAt := time.Now()
	if err := pub.sess.Close(ctx); err != nil {
		t.Fatalf("the publisher's DELETE with the database away: %v", err)
	}
	v.waitClosed(t, 5*time.Second)
	time.Sleep(1500 * time.Millisecond) // about time: the outage goes on after the end

	pg.Start(t)
	poll.Until(t, 10*time.Second, "/readyz once the database is back", func() error {
		r := n.raw("GET", "/readyz", "", "", nil)
		return poll.Want(r.status == 200, "/readyz %d", r.status)
	})
	poll.Until(t, 10*time.Second, "the stream ended in the database", func() error {
		return poll.Want(n.stream(s.ID).State == "ended", "it is %s", n.stream(s.ID).State)
	})
	var got struct {
		EndedAt time.Time `json:"ended_at"`
	}
	r = n.raw("GET", "/v1/streams/"+s.ID, "", "", key)
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	if d := got.EndedAt.Sub(endedAt); d < -time.Second || d > time.Second {
		t.Errorf("ended_at %v, the encoder ended the stream at %v: want its true time, not when the database came back",
			got.EndedAt, endedAt)
	}
}

// A ticket holder's playback token, issued before PostgreSQL went away, still opens
// its session while it is away: the token and the revocation markers in Redis decide
// (no refund can be booked meanwhile: Stripe's webhooks wait for the database).
func TestTicketTokenDuringDatabaseOutage(t *testing.T) {
	pg := testservices.StartPostgres(t)
	n := startAccessNode(t, func(c *config.Config) { c.DatabaseURL = pg.URL })
	n.launchCountries()
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	n.waitLive(t, s.ID)
	amina := n.buyer("viewer-amina", testenv.IPMorocco)
	amina.buyTicket(s.ID)
	grant := amina.mustAccess(s.ID)

	pg.Stop(t)
	poll.Until(t, 5*time.Second, "/readyz failing with the database away", func() error {
		r := n.raw("GET", "/readyz", "", "", nil)
		return poll.Want(r.status == 503, "/readyz %d", r.status)
	})
	v := mustWatchToken(t, n, s, grant.PlaybackToken)
	v.waitPackets(t, "video", 10, 10*time.Second)
	if r := n.raw("POST", "/whep/"+s.ID, "application/sdp", offerSDP(t, false), nil); r.status < 400 {
		t.Errorf("a join without a token while the database is away: %d", r.status)
	}
}

// PostgreSQL hangs (paused: its connections open, nothing answering): the node says it
// is not ready within seconds, media goes on, a viewer of the live stream it serves
// joins without waiting on the database, what needs it gets 503 in bounded time (not a
// request hanging), and all is well again once it answers.
func TestDatabasePaused(t *testing.T) {
	pg := testservices.StartPostgres(t)
	n := startProcess(t, pg.URL, nil, nil)
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	v := mustWatch(t, n, s)
	v.waitPackets(t, "video", 10, 10*time.Second)

	pg.Pause(t)
	defer pg.Resume(t)
	paused := time.Now()
	poll.Until(t, 10*time.Second, "/readyz failing with the database paused", func() error {
		r := n.raw("GET", "/readyz", "", "", nil)
		return poll.Want(r.status == 503, "/readyz %d", r.status)
	})
	t.Logf("/readyz failed %v after the pause", time.Since(paused).Round(100*time.Millisecond))
	v.waitPackets(t, "video", len(v.snapshot("video"))+30, 5*time.Second)

	joined := time.Now()
	late := mustWatch(t, n, s)
	late.waitPackets(t, "video", 10, 10*time.Second)
	t.Logf("a new viewer joined in %v with the database paused", time.Since(joined).Round(10*time.Millisecond))

	key := map[string]string{"Authorization": "Bearer " + n.apiKey()}
	asked := time.Now()
	r := n.raw("GET", "/v1/streams", "", "", key)
	expectProblem(t, "the catalog with the database paused", r, 503, "store-unavailable")
	if took := time.Since(asked); took > 15*time.Second {
		t.Errorf("the catalog took %v to say the database is away", took)
	}

	pg.Resume(t)
	poll.Until(t, 15*time.Second, "/readyz once the database answers again", func() error {
		r := n.raw("GET", "/readyz", "", "", nil)
		return poll.Want(r.status == 200, "/readyz %d", r.status)
	})
	if st := n.call("GET", "/v1/streams", nil, nil); st != 200 {
		t.Errorf("the catalog once the database answers: %d", st)
	}
}
