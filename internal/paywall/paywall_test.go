package paywall_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/access"
	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/paywall"
	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlstore"
)

// The decision over a real SQLite store and the in-process session store.
func TestDecide(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bill, _ := billing.New(db, billing.Config{})
	mem := sessions.NewMemory()
	d := &paywall.Decider{Entitlements: db, Offers: bill, Previews: mem}
	now := time.Now().UTC()
	if _, err := bill.SetCountry(ctx, "op", billingPolicy(now)); err != nil {
		t.Fatal(err)
	}
	c := store.Creator{ID: "cr", Name: "c", Country: "MA", CreatedAt: now}
	if err := db.CreateCreator(ctx, c); err != nil {
		t.Fatal(err)
	}
	free := store.Stream{ID: "free", CreatorID: "cr", Title: "f", AccessMode: store.AccessFree, KeyHash: []byte{1}, State: store.StateLive, CreatedAt: now}
	paid := store.Stream{ID: "paid", CreatorID: "cr", Title: "p", AccessMode: store.AccessTicket, KeyHash: []byte{1}, State: store.StateLive, CreatedAt: now, PreviewSeconds: 60}
	if err := db.CreateStream(ctx, free); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateStream(ctx, paid); err != nil {
		t.Fatal(err)
	}
	if err := db.PutStreamPrices(ctx, "paid", []store.Price{{Currency: "MAD", Amount: 4900}}); err != nil {
		t.Fatal(err)
	}

	if dec, err := d.Decide(ctx, "", free, ""); err != nil || dec.Entitlement != "free" {
		t.Fatalf("free: %+v %v", dec, err)
	}
	if _, err := d.Decide(ctx, "", paid, "MA"); !errors.Is(err, access.ErrNoViewer) {
		t.Fatalf("paid without viewer: %v", err)
	}
	if dec, err := d.Decide(ctx, "v", paid, "MA"); err != nil || dec.Entitlement != "preview" || dec.Preview != time.Minute {
		t.Fatalf("preview: %+v %v", dec, err)
	}
	// Bookings are whole milliseconds: a watched preview can leave a sliver, which is
	// not a preview.
	if _, err := mem.AddPreview(ctx, sessions.Watch{Viewer: "v", Stream: "paid"}, time.Minute-3*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var pr *paywall.PaymentRequired
	if _, err := d.Decide(ctx, "v", paid, "MA"); !errors.As(err, &pr) || pr.Offer.Display != "MAD 49.00" {
		t.Fatalf("after preview: %v", err)
	}
	if _, err := d.Decide(ctx, "v", paid, "FR"); !errors.Is(err, billing.ErrCountryNotEnabled) {
		t.Fatalf("France: %v", err)
	}
	if _, err := db.ApplyEvent(ctx, "e", "t", func(tx store.BillingTx) error {
		_, err := tx.GrantEntitlement(store.Entitlement{ID: "ent_v", ViewerID: "v", Kind: store.KindTicket, StreamID: "paid", CreatorID: "cr", Source: "pi", CreatedAt: now, UpdatedAt: now})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// A ticket holder watches, even from a country that cannot buy.
	if dec, err := d.Decide(ctx, "v", paid, "FR"); err != nil || dec.Entitlement != "ent_v" {
		t.Fatalf("ticket holder: %+v %v", dec, err)
	}

	// What it granted holds while the purchase does: the same rule re-checks a replay
	// being downloaded as opened the live stream.
	for ent, want := range map[string]error{"ent_v": nil, sessions.EntitlementFree: nil, sessions.EntitlementPreview: nil} {
		if err := d.Holds(ctx, "v", paid, ent); err != want {
			t.Errorf("holds %s before the refund: %v", ent, err)
		}
	}
	if _, err := db.ApplyEvent(ctx, "e2", "t", func(tx store.BillingTx) error {
		_, _, err := tx.RevokeEntitlement("pi", "refunded", now)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.Holds(ctx, "v", paid, "ent_v"); !errors.Is(err, paywall.ErrPurchaseEnded) {
		t.Fatalf("a refunded ticket still holds: %v", err)
	}
	if err := d.Holds(ctx, "v", paid, sessions.EntitlementPreview); err != nil {
		t.Fatalf("a preview right fell with a purchase it never had: %v", err)
	}
}
