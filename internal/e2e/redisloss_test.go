package e2e

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/internal/testservices"
)

// A Redis that comes back empty used to forget which playback tokens were spent and how
// much free preview each viewer had watched: a spent token opened a second session and
// a viewer got the preview again. Now the fleet notices (its epoch key is gone): tokens
// issued before are refused (a new one comes from /access as ever), and the previews
// of a stream live before the loss give nothing more. The Redis is the test's own,
// without persistence, and really restarted.
func TestRedisThatForgetsKeepsTokensSpentAndPreviewsUsed(t *testing.T) {
	rd := testservices.StartRedis(t)
	n := startNode(t, chain(moneySettings(t), func(c *config.Config) {
		c.RedisURL, c.RedisPrefix = rd.URL, testenv.UniquePrefix()
		c.PlaybackSecret, c.SessionTTL = playbackSecret, 3*time.Second
	}))
	n.launchCountries()
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	if st := n.call("PATCH", "/v1/streams/"+s.ID, map[string]any{"preview_seconds": 60, "max_sessions": 3}, nil); st != 200 {
		t.Fatalf("preview: %d", st)
	}
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	n.waitLive(t, s.ID)
	amina, karim := n.buyer("viewer-amina", testenv.IPMorocco), n.buyer("viewer-karim", testenv.IPMorocco)
	amina.buyTicket(s.ID)
	spent := amina.mustAccess(s.ID)
	v := mustWatchToken(t, n, s, spent.PlaybackToken)
	v.waitPackets(t, "video", 5, 10*time.Second)
	_ = v.sess.Close(t.Context())
	unused := amina.mustAccess(s.ID)
	if g := karim.mustAccess(s.ID); g.Access != "preview" {
		t.Fatalf("karim's first access: %+v, want a preview", g)
	}

	time.Sleep(1100 * time.Millisecond) // about time: tokens have whole-second times
	rd.Stop(t)                          // without saving: it comes back empty
	rd.Start(t)

	expectNoMedia(t, n, s, spent.PlaybackToken, 401, "playback-token-invalid")
	expectNoMedia(t, n, s, unused.PlaybackToken, 401, "playback-token-invalid")
	fresh := amina.mustAccess(s.ID)
	w, err := watchWithToken(t, n, s, fresh.PlaybackToken)
	if err != nil {
		t.Fatalf("a token issued after the loss: %v", err)
	}
	w.waitPackets(t, "video", 5, 10*time.Second)
	_, r := karim.access(s.ID)
	expectProblem(t, "a second free preview after Redis forgot the first", r, 402, "payment-required")
}
