package billing_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlstore"
)

// A revocation queued while the session store is away is delivered once it answers, and
// only once.
func TestOutboxRetriesUntilDelivered(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "outbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	c := store.Creator{ID: "cr", Name: "c", Country: "MA", CreatedAt: now}
	st := store.Stream{ID: "str", CreatorID: "cr", Title: "t", AccessMode: store.AccessTicket, KeyHash: []byte{1}, State: store.StateLive, CreatedAt: now}
	if err := db.CreateCreator(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateStream(ctx, st); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyEvent(ctx, "evt_refund", "charge.refunded", func(tx store.BillingTx) error {
		e := store.Entitlement{ID: "ent_1", ViewerID: "v", Kind: store.KindTicket, StreamID: st.ID, CreatorID: c.ID,
			Source: "pi_1", CreatedAt: now, UpdatedAt: now}
		if _, err := tx.GrantEntitlement(e); err != nil {
			return err
		}
		if _, _, err := tx.RevokeEntitlement("pi_1", "refunded", now); err != nil {
			return err
		}
		return tx.QueueRevocation(e.ID, "refunded", now)
	}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	attempts, delivered := 0, []string{}
	metrics := billing.NewMetrics(nil)
	svc, err := billing.New(db, billing.Config{Metrics: metrics, Deliver: func(_ context.Context, r store.Revocation) error {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts <= 3 { // Redis paused
			return errors.New("i/o timeout")
		}
		delivered = append(delivered, r.EntitlementID+":"+r.Reason)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); svc.RunOutbox(runCtx) }()
	defer func() { cancel(); <-done }()

	poll.Until(t, 5*time.Second, "the revocation delivered", func() error {
		pending, err := db.PendingRevocations(ctx, 10)
		if err != nil {
			return err
		}
		return poll.Want(len(pending) == 0, "%d still pending", len(pending))
	})
	time.Sleep(300 * time.Millisecond) // a second delivery would come now
	mu.Lock()
	defer mu.Unlock()
	if len(delivered) != 1 || delivered[0] != "ent_1:refunded" {
		t.Fatalf("delivered %v, want ent_1:refunded once", delivered)
	}
	if r, d := testutil.ToFloat64(metrics.RevocationRetries), testutil.ToFloat64(metrics.RevocationsDelivered); r != 3 || d != 1 {
		t.Fatalf("metrics: %v failed deliveries, %v delivered; want 3 and 1", r, d)
	}
}
