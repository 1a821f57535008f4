package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/store"
)

func runBilling(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CountryPolicyAndAudit", func(t *testing.T) { testCountryPolicy(t, open(t)) })
	t.Run("Prices", func(t *testing.T) { testPrices(t, open(t)) })
	t.Run("EventsExactlyOnce", func(t *testing.T) { testEventsExactlyOnce(t, open(t)) })
	t.Run("RevokeBeforeGrant", func(t *testing.T) { testRevokeBeforeGrant(t, open(t)) })
	t.Run("SubscriptionExpiry", func(t *testing.T) { testSubscriptionExpiry(t, open(t)) })
	t.Run("SubscriptionReopened", func(t *testing.T) { testSubscriptionReopened(t, open(t)) })
	t.Run("BansByScope", func(t *testing.T) { testBans(t, open(t)) })
	t.Run("LedgerAndPendingRefunds", func(t *testing.T) { testLedger(t, open(t)) })
	t.Run("RevocationOutbox", func(t *testing.T) { testRevocationOutbox(t, open(t)) })
}

// A revocation is queued with the revoking transaction or not at all, stays pending until
// delivered, and the revoked entitlement is found by id for the nodes' re-check.
func testRevocationOutbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	c, st := mustStream(t, s, store.AccessTicket)
	var granted store.Entitlement
	if _, err := s.ApplyEvent(ctx, "evt_g", "x", func(tx store.BillingTx) error {
		e := ticket(c, st, "v1", "pi_1")
		granted = e
		_, err := tx.GrantEntitlement(e)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.RevokedEntitlements(ctx, []string{granted.ID, "ent_unknown"}); err != nil || len(got) != 0 {
		t.Fatalf("revoked before any revocation: %+v %v", got, err)
	}
	// A transaction that fails after queueing leaves nothing queued.
	boom := errors.New("boom")
	if _, err := s.ApplyEvent(ctx, "evt_r", "charge.refunded", func(tx store.BillingTx) error {
		e, _, err := tx.RevokeEntitlement("pi_1", "refunded", now())
		if err != nil {
			return err
		}
		if err := tx.QueueRevocation(e.ID, "refunded", now()); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failing apply: %v", err)
	}
	if p, err := s.PendingRevocations(ctx, 10); err != nil || len(p) != 0 {
		t.Fatalf("rolled-back revocation queued: %+v %v", p, err)
	}
	if _, err := s.ApplyEvent(ctx, "evt_r", "charge.refunded", func(tx store.BillingTx) error {
		e, _, err := tx.RevokeEntitlement("pi_1", "refunded", now())
		if err != nil {
			return err
		}
		return tx.QueueRevocation(e.ID, "refunded", now())
	}); err != nil {
		t.Fatal(err)
	}
	p, err := s.PendingRevocations(ctx, 10)
	if err != nil || len(p) != 1 || p[0].EntitlementID != granted.ID || p[0].Reason != "refunded" {
		t.Fatalf("pending = %+v %v", p, err)
	}
	got, err := s.RevokedEntitlements(ctx, []string{granted.ID, "ent_unknown"})
	if err != nil || len(got) != 1 || got[0].ID != granted.ID || got[0].RevokedReason != "refunded" {
		t.Fatalf("revoked = %+v %v", got, err)
	}
	if err := s.RevocationDelivered(ctx, p[0].ID, now()); err != nil {
		t.Fatal(err)
	}
	if p, err := s.PendingRevocations(ctx, 10); err != nil || len(p) != 0 {
		t.Fatalf("delivered revocation still pending: %+v %v", p, err)
	}
}

func testCountryPolicy(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.CountryPolicy(ctx, "MA"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown country: %v", err)
	}
	p := store.CountryPolicy{Code: "MA", Enabled: true, LaunchAt: now(), Currency: "MAD", MinTicket: 1000, MaxTicket: 50000,
		MinSub: 2000, MaxSub: 20000, FeeBPS: 1500, FeeWaivedUntil: now().Add(48 * time.Hour), Payouts: "manual", UpdatedAt: now()}
	a := store.AuditEntry{ID: store.NewID("aud"), Object: "country:MA", Actor: "alice", At: now(), Before: "{}", After: `{"enabled":true}`}
	if err := s.PutCountryPolicy(ctx, p, a); err != nil {
		t.Fatal(err)
	}
	p2 := p
	p2.Enabled, p2.FeeBPS = false, 1000
	if err := s.PutCountryPolicy(ctx, p2, store.AuditEntry{ID: store.NewID("aud"), Object: "country:MA", Actor: "bob", At: now().Add(time.Second), Before: "x", After: "y"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.CountryPolicy(ctx, "MA")
	if err != nil || got.Enabled || got.FeeBPS != 1000 || got.Currency != "MAD" || !got.FeeWaivedUntil.Equal(p.FeeWaivedUntil) || got.Payouts != "manual" {
		t.Fatalf("policy = %+v, %v", got, err)
	}
	byCur, _ := s.CountryPoliciesByCurrency(ctx, "MAD")
	all, _ := s.ListCountryPolicies(ctx)
	if len(byCur) != 1 || len(all) != 1 {
		t.Fatalf("by currency %d, all %d", len(byCur), len(all))
	}
	audit, err := s.ListAudit(ctx, "country:MA", 10)
	if err != nil || len(audit) != 2 || audit[0].Actor != "bob" || audit[1].After != `{"enabled":true}` {
		t.Fatalf("audit = %+v, %v", audit, err)
	}
}

func mustStream(t *testing.T, s store.Store, mode store.AccessMode) (store.Creator, store.Stream) {
	t.Helper()
	c := mustCreator(t, s)
	st := store.Stream{ID: store.NewID("str"), CreatorID: c.ID, Title: "t", AccessMode: mode, KeyHash: []byte{1},
		State: store.StateScheduled, CreatedAt: now()}
	if err := s.CreateStream(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	return c, st
}

func testPrices(t *testing.T, s store.Store) {
	ctx := context.Background()
	c, st := mustStream(t, s, store.AccessTicket)
	if err := s.PutStreamPrices(ctx, st.ID, []store.Price{{Currency: "MAD", Amount: 4900}, {Currency: "ZAR", Amount: 9900}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutStreamPrices(ctx, st.ID, []store.Price{{Currency: "ZAR", Amount: 8900}}); err != nil {
		t.Fatal(err)
	}
	ps, _ := s.StreamPrices(ctx, st.ID)
	if len(ps) != 1 || ps[0].Amount != 8900 {
		t.Fatalf("stream prices = %+v, want only ZAR 8900", ps)
	}
	if err := s.PutStreamPrices(ctx, "str_missing", []store.Price{{Currency: "MAD", Amount: 1}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("prices of missing stream: %v", err)
	}
	for _, amt := range []int64{2000, 2500} {
		if err := s.PutSubscriptionPrice(ctx, c.ID, store.Price{Currency: "MAD", Amount: amt, StripePriceID: "price_" + c.ID}); err != nil {
			t.Fatal(err)
		}
	}
	sp, _ := s.SubscriptionPrices(ctx, c.ID)
	if len(sp) != 1 || sp[0].Amount != 2500 || sp[0].StripePriceID == "" {
		t.Fatalf("subscription prices = %+v, want one MAD tier", sp)
	}
	if err := s.SetStreamAccess(ctx, st.ID, store.AccessSubscribers); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Stream(ctx, st.ID); got.AccessMode != store.AccessSubscribers {
		t.Fatalf("access mode %s", got.AccessMode)
	}
	pay := store.CreatorPayment{Country: "ZA", StripeAccountID: "acct_" + c.ID, ChargesEnabled: true}
	if err := s.SetCreatorPayment(ctx, c.ID, pay); err != nil {
		t.Fatal(err)
	}
	if id, err := s.CreatorByStripeAccount(ctx, pay.StripeAccountID); err != nil || id != c.ID {
		t.Fatalf("creator by account = %s, %v", id, err)
	}
	if got, _ := s.CreatorPayment(ctx, c.ID); got != pay {
		t.Fatalf("creator payment = %+v", got)
	}
}

func ticket(c store.Creator, st store.Stream, viewer, pi string) store.Entitlement {
	return store.Entitlement{ID: store.NewID("ent"), ViewerID: viewer, Kind: store.KindTicket, StreamID: st.ID,
		CreatorID: c.ID, Source: pi, CreatedAt: now(), UpdatedAt: now()}
}

// The same event applied from many goroutines at once changes things exactly once.
func testEventsExactlyOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	c, st := mustStream(t, s, store.AccessTicket)
	var wg sync.WaitGroup
	var mu sync.Mutex
	applied := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.ApplyEvent(ctx, "evt_1", "checkout.session.completed", func(tx store.BillingTx) error {
				if _, err := tx.GrantEntitlement(ticket(c, st, "v1", "pi_1")); err != nil {
					return err
				}
				_, err := tx.AddLedger(store.LedgerEntry{Kind: store.LedgerSale, CreatorID: c.ID, Currency: "MAD", Gross: 100, Net: 100,
					StripeEventID: "evt_1", StripeObject: "pi_1", PaymentIntent: "pi_1", CreatedAt: now()})
				return err
			})
			if err != nil && !isBusy(err) {
				t.Errorf("ApplyEvent: %v", err)
			}
			if ok {
				mu.Lock()
				applied++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if applied != 1 {
		t.Fatalf("event applied %d times, want 1", applied)
	}
	led, _ := s.Ledger(ctx, c.ID)
	if len(led) != 1 {
		t.Fatalf("ledger has %d rows, want 1", len(led))
	}
	if _, err := s.ActiveEntitlement(ctx, "v1", store.KindTicket, st.ID, c.ID, now()); err != nil {
		t.Fatalf("no entitlement after the event: %v", err)
	}
	// A failing apply records nothing, so a redelivery can succeed.
	boom := errors.New("boom")
	if _, err := s.ApplyEvent(ctx, "evt_2", "x", func(store.BillingTx) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing apply: %v", err)
	}
	if ok, err := s.ApplyEvent(ctx, "evt_2", "x", func(store.BillingTx) error { return nil }); !ok || err != nil {
		t.Fatalf("redelivery after failure: %v %v", ok, err)
	}
}

// isBusy tolerates SQLite's lock timeout under heavy contention; PostgreSQL never needs it.
func isBusy(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "SQLITE_BUSY") || strings.Contains(err.Error(), "database is locked"))
}

func testRevokeBeforeGrant(t *testing.T, s store.Store) {
	ctx := context.Background()
	c, st := mustStream(t, s, store.AccessTicket)
	_, err := s.ApplyEvent(ctx, "evt_refund", "charge.refunded", func(tx store.BillingTx) error {
		e, wasActive, err := tx.RevokeEntitlement("pi_9", "refunded", now())
		if err == nil && (e.State != store.EntRevoked || wasActive) {
			t.Errorf("placeholder state %s, wasActive %v", e.State, wasActive)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.ApplyEvent(ctx, "evt_done", "checkout.session.completed", func(tx store.BillingTx) error {
		granted, err := tx.GrantEntitlement(ticket(c, st, "v9", "pi_9"))
		if granted {
			t.Error("granted access for a purchase already refunded")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ActiveEntitlement(ctx, "v9", store.KindTicket, st.ID, c.ID, now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("access left behind after refund-before-completion: %v", err)
	}
	ents, _ := s.EntitlementsOfStream(ctx, st.ID)
	if len(ents) != 1 || ents[0].ViewerID != "v9" || ents[0].State != store.EntRevoked {
		t.Fatalf("entitlements = %+v", ents)
	}
}

func testSubscriptionExpiry(t *testing.T, s store.Store) {
	ctx := context.Background()
	c, st := mustStream(t, s, store.AccessSubscribers)
	until := now().Add(time.Hour)
	_, err := s.ApplyEvent(ctx, "evt_s", "x", func(tx store.BillingTx) error {
		if _, err := tx.GrantEntitlement(store.Entitlement{ID: store.NewID("ent"), ViewerID: "v", Kind: store.KindSubscription, CreatorID: c.ID,
			Source: "sub_1", ExpiresAt: until, CreatedAt: now(), UpdatedAt: now()}); err != nil {
			return err
		}
		_, err := tx.ExtendEntitlement("sub_1", until.Add(-time.Minute), now()) // never shortens
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ActiveEntitlement(ctx, "v", store.KindSubscription, st.ID, c.ID, now()); err != nil {
		t.Fatalf("active subscription not found: %v", err)
	}
	if _, err := s.ActiveEntitlement(ctx, "v", store.KindTicket, st.ID, c.ID, now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a subscription counted as a ticket: %v", err)
	}
	if _, err := s.ActiveEntitlement(ctx, "v", store.KindSubscription, st.ID, c.ID, until.Add(time.Second)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired subscription still grants access: %v", err)
	}
	if _, err := s.ActiveEntitlement(ctx, "other", store.KindSubscription, st.ID, c.ID, now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another viewer has access: %v", err)
	}
}

// A subscription whose access a refund ended opens again for a later paid period; one
// cancelled does not, and a sale remembers the access it paid for.
func testSubscriptionReopened(t *testing.T, s store.Store) {
	ctx := context.Background()
	c, st := mustStream(t, s, store.AccessSubscribers)
	for _, sub := range []string{"sub_refunded", "sub_cancelled"} {
		sub := sub
		if _, err := s.ApplyEvent(ctx, "evt_grant_"+sub, "x", func(tx store.BillingTx) error {
			_, err := tx.GrantEntitlement(store.Entitlement{ID: store.NewID("ent"), ViewerID: sub, Kind: store.KindSubscription, CreatorID: c.ID,
				Source: sub, ExpiresAt: now().Add(time.Hour), CreatedAt: now(), UpdatedAt: now()})
			if err != nil {
				return err
			}
			_, err = tx.AddLedger(store.LedgerEntry{Kind: store.LedgerSale, CreatorID: c.ID, Currency: "MAD", Gross: 2500, Net: 2500,
				StripeObject: "in_" + sub, PaymentIntent: "pi_" + sub, AccessSource: sub, CreatedAt: now()})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	later := now().Add(48 * time.Hour)
	_, err := s.ApplyEvent(ctx, "evt_reopen", "x", func(tx store.BillingTx) error {
		if sale, err := tx.SaleByPaymentIntent("pi_sub_refunded"); err != nil || sale.AccessSource != "sub_refunded" {
			return errors.Join(fmt.Errorf("the sale's access source: %q", sale.AccessSource), err)
		}
		if _, _, err := tx.RevokeEntitlement("sub_refunded", "refunded", now()); err != nil {
			return err
		}
		if _, _, err := tx.RevokeEntitlement("sub_cancelled", "subscription canceled", now()); err != nil {
			return err
		}
		if ok, err := tx.ReopenEntitlement("sub_refunded", later, now()); !ok || err != nil {
			return errors.Join(errors.New("a refunded subscription's paid renewal did not reopen it"), err)
		}
		if ok, err := tx.ReopenEntitlement("sub_refunded", later, now()); ok || err != nil {
			return errors.Join(errors.New("an active subscription reopened"), err)
		}
		if ok, err := tx.ReopenEntitlement("sub_cancelled", later, now()); ok || err != nil {
			return errors.Join(errors.New("a cancelled subscription reopened"), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if e, err := s.ActiveEntitlement(ctx, "sub_refunded", store.KindSubscription, st.ID, c.ID, now()); err != nil || !e.ExpiresAt.Equal(later) {
		t.Fatalf("reopened subscription: %+v %v", e, err)
	}
}

// A ban covers its scope until its end or its lift, and only its viewer.
func testBans(t *testing.T, s store.Store) {
	ctx := context.Background()
	at := now()
	audit := store.AuditEntry{ID: store.NewID("aud"), Object: "ban:v", Actor: "op", At: at, Before: "{}", After: "{}"}
	for _, b := range []store.Ban{
		{ID: "ban_stream", ViewerID: "v", StreamID: "str_1", Until: at.Add(time.Hour)},
		{ID: "ban_creator", ViewerID: "v", CreatorID: "cr_2", Until: at.Add(time.Hour)},
		{ID: "ban_over", ViewerID: "v", Until: at.Add(-time.Second)},
	} {
		b.CreatedAt, b.CreatedBy = at, "op"
		audit.ID = store.NewID("aud")
		if err := s.CreateBan(ctx, b, audit); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		viewer, stream, creator, want string
	}{
		{"v", "str_1", "cr_1", "ban_stream"}, {"v", "str_9", "cr_2", "ban_creator"}, {"v", "str_9", "cr_9", ""}, {"w", "str_1", "cr_2", ""},
	} {
		b, err := s.ActiveBan(ctx, c.viewer, c.stream, c.creator, at)
		if got := b.ID; (c.want == "" && !errors.Is(err, store.ErrNotFound)) || got != c.want {
			t.Errorf("ban of %s on %s/%s: %q %v, want %q", c.viewer, c.stream, c.creator, got, err, c.want)
		}
	}
	if active, _ := s.ListBans(ctx, "v", false, at); len(active) != 2 {
		t.Errorf("active bans: %+v", active)
	}
	audit.ID = store.NewID("aud")
	if _, err := s.LiftBan(ctx, "ban_creator", at, audit); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ActiveBan(ctx, "v", "str_9", "cr_2", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a lifted ban still applies: %v", err)
	}
	if all, _ := s.ListBans(ctx, "v", true, at); len(all) != 3 {
		t.Errorf("every ban: %+v", all)
	}
	if _, err := s.LiftBan(ctx, "ban_none", at, audit); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lifting no ban: %v", err)
	}
}

func testLedger(t *testing.T, s store.Store) {
	ctx := context.Background()
	c, _ := mustStream(t, s, store.AccessTicket)
	_, err := s.ApplyEvent(ctx, "e1", "x", func(tx store.BillingTx) error {
		if err := tx.AddPendingRefund("pi_5", "re_1", 300, "e1", now()); err != nil {
			return err
		}
		if err := tx.AddPendingRefund("pi_5", "re_1", 300, "e1", now()); err != nil { // duplicate ignored
			return err
		}
		sale := store.LedgerEntry{Kind: store.LedgerSale, CreatorID: c.ID, Country: "EG", Currency: "EGP", Gross: 1000, Fee: 100, Net: 900,
			Payouts: "manual", StripeEventID: "e1", StripeObject: "pi_5", PaymentIntent: "pi_5", CreatedAt: now()}
		if ok, err := tx.AddLedger(sale); !ok || err != nil {
			return errors.Join(errors.New("first sale not added"), err)
		}
		if ok, _ := tx.AddLedger(sale); ok {
			return errors.New("same sale added twice")
		}
		got, err := tx.SaleByPaymentIntent("pi_5")
		if err != nil || got.Gross != 1000 {
			return errors.Join(errors.New("sale lookup"), err)
		}
		pend, err := tx.TakePendingRefunds("pi_5")
		if err != nil || len(pend) != 1 || pend[0].Amount != 300 {
			return errors.Join(errors.New("pending refunds"), err)
		}
		if again, _ := tx.TakePendingRefunds("pi_5"); len(again) != 0 {
			return errors.New("pending refunds taken twice")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	led, _ := s.Ledger(ctx, c.ID)
	manual, _ := s.ManualLedger(ctx)
	if len(led) != 1 || len(manual) != 1 || led[0].Net != 900 || led[0].Country != "EG" {
		t.Fatalf("ledger %+v manual %d", led, len(manual))
	}
}
