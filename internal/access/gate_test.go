package access_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livegate/livegate/internal/access"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/store"
)

// A revocation published while this node was not listening still ends its session on
// the next heartbeat.
func TestGateCatchesMissedRevocation(t *testing.T) {
	ctx := context.Background()
	mem := sessions.NewMemory()
	tokens, _ := access.NewPlaybackTokens("", 0)
	metrics := access.NewMetrics(nil)
	g, err := access.NewGate(mem, tokens, access.GateConfig{Node: "n1", TTL: 300 * time.Millisecond, Heartbeat: 50 * time.Millisecond, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	st := store.Stream{ID: "str", AccessMode: store.AccessTicket, MaxSessions: 1, SessionPolicy: store.PolicyReject}
	c := access.PlaybackClaims{Stream: "str", Entitlement: "ent_1"}
	c.Subject, c.ID = "viewer", "sess-1"
	tok, _, _ := tokens.Issue(c)
	pass, err := g.Admit(ctx, tok, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Admit(ctx, tok, st); err == nil {
		t.Fatal("a playback token opened a second session")
	}
	if a, b := testutil.ToFloat64(metrics.Admissions.WithLabelValues("admitted")), testutil.ToFloat64(metrics.Admissions.WithLabelValues("bad_token")); a != 1 || b != 1 {
		t.Fatalf("admissions: %v admitted, %v bad_token; want 1 and 1", a, b)
	}
	closed := make(chan sessions.Reason, 1)
	done := make(chan struct{})
	gone := g.Attach(pass, func(reason sessions.Reason) { closed <- reason; close(done) })
	defer gone()

	// Published before the gate subscribes: the live message is missed.
	if err := mem.Publish(ctx, sessions.Event{Kind: sessions.EventEntitlement, EntitlementID: "ent_1", Reason: "refunded"}); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go g.Run(runCtx)
	select {
	case reason := <-closed:
		if reason != "refunded" {
			t.Fatalf("closed for %q", reason)
		}
	case <-time.After(time.Second):
		t.Fatal("missed revocation not caught by the heartbeat")
	}
	if cut := testutil.ToFloat64(metrics.SessionsCut); cut != 1 {
		t.Errorf("sessions cut %v, want 1", cut)
	}
	// The store learns the reason right after the media is cut.
	poll.Until(t, time.Second, "the store's end reason", func() error {
		r, _ := mem.Ended(ctx, "sess-1")
		return poll.Want(r == "refunded", "%q, want refunded", r)
	})
}
