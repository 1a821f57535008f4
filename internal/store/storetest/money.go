package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/store"
)

func runMoney(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("PromoCodeCap", func(t *testing.T) { testPromoCodeCap(t, open(t)) })
	t.Run("TipsOncePerCheckout", func(t *testing.T) { testTips(t, open(t)) })
	t.Run("WebhookOutbox", func(t *testing.T) { testWebhookOutbox(t, open(t)) })
	t.Run("LedgerBetweenAndUSD", func(t *testing.T) { testLedgerUSD(t, open(t)) })
	t.Run("ConvertLedgerOnce", func(t *testing.T) { testConvertLedger(t, open(t)) })
}

// Entries without a USD rate are listed by currency and converted once, with an audit
// entry that says how many; an entry converted already is left as it is.
func testConvertLedger(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := mustCreator(t, s)
	mk := func(obj, cur string) store.LedgerEntry {
		return store.LedgerEntry{ID: store.NewID("led"), Kind: store.LedgerSale, CreatorID: c.ID, Currency: cur, Gross: 1000, Net: 900,
			StripeObject: obj, PaymentIntent: obj, CreatedAt: now()}
	}
	a, b, z := mk("pi_a", "MAD"), mk("pi_b", "MAD"), mk("pi_z", "ZAR")
	if _, err := s.SeedLedger(ctx, []store.LedgerEntry{a, b, z}); err != nil {
		t.Fatal(err)
	}
	got, err := s.UnconvertedLedger(ctx, []string{"MAD"})
	if err != nil || len(got) != 2 {
		t.Fatalf("unconverted MAD entries: %+v %v", got, err)
	}
	if all, _ := s.UnconvertedLedger(ctx, nil); len(all) != 3 {
		t.Fatalf("all unconverted: %d", len(all))
	}
	audited := -1
	audit := func(n int) store.AuditEntry {
		audited = n
		return store.AuditEntry{ID: store.NewID("aud"), Object: "ledger:usd", Actor: "op", At: now(), Before: "{}", After: "{}"}
	}
	a.USDGross, a.USDNet, a.USDRate, a.USDRateSource = 100, 90, "0.1", "table"
	if n, err := s.ConvertLedger(ctx, []store.LedgerEntry{a}, audit); n != 1 || err != nil || audited != 1 {
		t.Fatalf("convert: %d %v (audited %d)", n, err, audited)
	}
	a.USDRate, audited = "0.2", -1
	if n, err := s.ConvertLedger(ctx, []store.LedgerEntry{a}, audit); n != 0 || err != nil || audited != -1 {
		t.Fatalf("convert again: %d %v (audited %d)", n, err, audited)
	}
	if left, _ := s.UnconvertedLedger(ctx, []string{"MAD"}); len(left) != 1 || left[0].ID != b.ID {
		t.Fatalf("left unconverted: %+v", left)
	}
	if log, _ := s.ListAudit(ctx, "ledger:usd", 10); len(log) != 1 {
		t.Fatalf("audit entries: %+v", log)
	}
}

// Reservations never pass the cap, however many race for it; releasing one lets the
// next in; an expired code reserves nothing; redemptions never pass reservations.
func testPromoCodeCap(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := mustCreator(t, s)
	p := store.PromoCode{ID: store.NewID("promo"), Code: "RACE5", CreatorID: c.ID, PercentOff: 10, MaxRedemptions: 5, CreatedBy: "t", CreatedAt: now()}
	if err := s.CreatePromoCode(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePromoCode(ctx, store.PromoCode{ID: store.NewID("promo"), Code: "RACE5", CreatorID: c.ID, PercentOff: 5,
		MaxRedemptions: 1, CreatedAt: now()}); err == nil {
		t.Fatal("a second code RACE5 was created")
	}
	var got atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 25; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.ReservePromoCode(ctx, p.ID, time.Now())
			if err != nil {
				t.Error(err)
			}
			if ok {
				got.Add(1)
			}
		}()
	}
	wg.Wait()
	if got.Load() != 5 {
		t.Fatalf("%d of 25 racing reservations got a cap of 5", got.Load())
	}
	if err := s.ReleasePromoCode(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.ReservePromoCode(ctx, p.ID, time.Now()); !ok {
		t.Fatal("a released reservation was not taken again")
	}
	if _, err := s.ApplyEvent(ctx, "evt_redeem", "x", func(tx store.BillingTx) error {
		for i := 0; i < 7; i++ { // more than reserved: the extra two change nothing
			if err := tx.RedeemPromoCode(p.ID); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got2, err := s.PromoCodeByCode(ctx, "race5")
	if err != nil || got2.Reserved != 5 || got2.Redeemed != 5 {
		t.Fatalf("after redeeming: %+v %v", got2, err)
	}
	exp := store.PromoCode{ID: store.NewID("promo"), Code: "GONE", CreatorID: c.ID, PercentOff: 10, MaxRedemptions: 5,
		ExpiresAt: now().Add(-time.Second), CreatedAt: now()}
	if err := s.CreatePromoCode(ctx, exp); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.ReservePromoCode(ctx, exp.ID, time.Now()); ok {
		t.Fatal("an expired code was reserved")
	}
	if list, err := s.PromoCodes(ctx, c.ID); err != nil || len(list) != 2 {
		t.Fatalf("codes of the creator: %+v %v", list, err)
	}
}

func testTips(t *testing.T, s store.Store) {
	ctx := context.Background()
	c, st := mustStream(t, s, store.AccessFree)
	at := now()
	tip := store.Tip{ID: store.NewID("tip"), CheckoutID: "co_1", StreamID: st.ID, CreatorID: c.ID, ViewerID: "v", Currency: "MAD",
		Amount: 2000, Message: "hi", PaymentIntent: "pi_t", CreatedAt: at}
	for i := 0; i < 2; i++ {
		if _, err := s.ApplyEvent(ctx, store.NewID("evt"), "x", func(tx store.BillingTx) error {
			tip.ID = store.NewID("tip")
			_, err := tx.AddTip(tip)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	tips, err := s.TipsSince(ctx, st.ID, at.Add(-time.Second), 10)
	if err != nil || len(tips) != 1 || tips[0].Amount != 2000 || tips[0].Message != "hi" || !tips[0].CreatedAt.Equal(at) {
		t.Fatalf("tips %+v %v, want the one tip", tips, err)
	}
	if later, _ := s.TipsSince(ctx, st.ID, at.Add(time.Second), 10); len(later) != 0 {
		t.Fatalf("tips after it: %+v", later)
	}
	_, _ = s.ApplyEvent(ctx, "evt_tip_refund", "x", func(tx store.BillingTx) error { return tx.MarkTipRefunded("pi_t") })
	if tips, _ := s.TipsSince(ctx, st.ID, at.Add(-time.Second), 10); len(tips) != 1 || !tips[0].Refunded {
		t.Fatalf("refunded tip %+v", tips)
	}
}

// An event goes to each endpoint that wants it, once however often it is emitted; a
// claimed delivery is not due to another node; a replay is a new delivery of the event.
func testWebhookOutbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	all := store.WebhookEndpoint{ID: store.NewID("we"), URL: "http://127.0.0.1:1/all", Secret: "s1", Enabled: true, CreatedAt: now()}
	tipsOnly := store.WebhookEndpoint{ID: store.NewID("we"), URL: "http://127.0.0.1:1/tips", Secret: "s2", EventTypes: []string{"tip.received"},
		Enabled: true, CreatedAt: now()}
	for _, e := range []store.WebhookEndpoint{all, tipsOnly} {
		if err := s.CreateWebhookEndpoint(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	at := now()
	ev := store.OutboundEvent{ID: "evt_out_1", Type: "stream.live", Payload: []byte(`{"id":"evt_out_1"}`), CreatedAt: at}
	for i := 0; i < 2; i++ {
		if err := s.EmitEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	// In a billing transaction that rolls back, nothing is queued.
	_, _ = s.ApplyEvent(ctx, "evt_rollback", "x", func(tx store.BillingTx) error {
		if err := tx.EmitEvent(store.OutboundEvent{ID: "evt_out_rb", Type: "tip.received", Payload: []byte(`{}`), CreatedAt: at}); err != nil {
			return err
		}
		return context.Canceled
	})
	if _, err := s.ApplyEvent(ctx, "evt_tip_emit", "x", func(tx store.BillingTx) error {
		return tx.EmitEvent(store.OutboundEvent{ID: "evt_out_2", Type: "tip.received", Payload: []byte(`{}`), CreatedAt: at})
	}); err != nil {
		t.Fatal(err)
	}
	due, err := s.DueDeliveries(ctx, at.Add(time.Millisecond), 10)
	if err != nil || len(due) != 3 {
		t.Fatalf("due deliveries %+v %v, want stream.live to one endpoint and tip.received to two", due, err)
	}
	d := due[0]
	if ok, _ := s.ClaimDelivery(ctx, d.ID, at.Add(time.Millisecond), at.Add(time.Minute)); !ok {
		t.Fatal("claim failed")
	}
	if ok, _ := s.ClaimDelivery(ctx, d.ID, at.Add(time.Millisecond), at.Add(time.Minute)); ok {
		t.Fatal("claimed twice")
	}
	if due, _ := s.DueDeliveries(ctx, at.Add(time.Second), 10); len(due) != 2 {
		t.Fatalf("a claimed delivery is still due: %+v", due)
	}
	d.State, d.Attempts, d.LastStatus, d.DeliveredAt, d.NextAttemptAt = store.DeliveryDelivered, 1, 200, now(), now()
	if err := s.FinishAttempt(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := s.Delivery(ctx, d.ID)
	if err != nil || got.State != store.DeliveryDelivered || got.Attempts != 1 || got.EndpointURL == "" || got.EventType == "" {
		t.Fatalf("delivery %+v %v", got, err)
	}
	again, err := s.ReplayDelivery(ctx, d.ID, now())
	if err != nil || again.ID == d.ID || again.EventID != d.EventID || again.State != store.DeliveryPending {
		t.Fatalf("replay %+v %v", again, err)
	}
	if list, _ := s.Deliveries(ctx, store.DeliveryFilter{EventID: d.EventID}); len(list) != 2 {
		t.Fatalf("deliveries of the event %+v", list)
	}
	if list, _ := s.Deliveries(ctx, store.DeliveryFilter{State: store.DeliveryDelivered}); len(list) != 1 {
		t.Fatalf("delivered %+v", list)
	}
	if err := s.DeleteWebhookEndpoint(ctx, tipsOnly.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.Deliveries(ctx, store.DeliveryFilter{State: store.DeliveryPending}); len(list) != 2 {
		t.Fatalf("pending after deleting an endpoint: %+v", list)
	}
}

func testLedgerUSD(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := mustCreator(t, s)
	jan := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	e := store.LedgerEntry{ID: store.NewID("led"), Kind: store.LedgerTip, CreatorID: c.ID, Country: "MA", Currency: "MAD", Gross: 4900,
		Fee: 735, Net: 4165, Discount: 100, Payouts: "manual", StripeEventID: "seed", StripeObject: "seed_1", PaymentIntent: "pi_s1",
		CreatedAt: jan, USDGross: 490, USDNet: 417, USDRate: "0.1", USDRateSource: "table"}
	if n, err := s.SeedLedger(ctx, []store.LedgerEntry{e, e}); err != nil || n != 1 { // the same row twice is one row
		t.Fatal(err)
	}
	got, err := s.LedgerBetween(ctx, jan.AddDate(0, 0, -1), jan.AddDate(0, 0, 1))
	if err != nil || len(got) != 1 || got[0] != e {
		t.Fatalf("ledger between: %+v %v, want %+v", got, err, e)
	}
	if none, _ := s.LedgerBetween(ctx, jan.AddDate(0, 0, 1), jan.AddDate(0, 1, 0)); len(none) != 0 {
		t.Fatalf("outside the range: %+v", none)
	}
	countries, err := s.CreatorCountries(ctx)
	if err != nil || countries[c.ID] != "MA" {
		t.Fatalf("creator countries %v %v", countries, err)
	}
	if err := s.PutUSDRates(ctx, []store.USDRate{{Currency: "MAD", Day: "2026-01-01", Rate: "0.10"}, {Currency: "MAD", Day: "2026-03-01", Rate: "0.11"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutUSDRates(ctx, []store.USDRate{{Currency: "MAD", Day: "2026-03-01", Rate: "0.105"}}); err != nil { // replaces
		t.Fatal(err)
	}
	if all, err := s.USDRates(ctx); err != nil || len(all) != 2 || all[1].Rate != "0.105" {
		t.Fatalf("usd rates %+v %v", all, err)
	}
	for day, want := range map[string]string{"2025-12-31": "", "2026-01-01": "0.10", "2026-02-28": "0.10", "2026-03-01": "0.105", "2027-01-01": "0.105"} {
		_, _ = s.ApplyEvent(ctx, store.NewID("evt"), "x", func(tx store.BillingTx) error {
			got, ok, err := tx.USDRate("MAD", day)
			if err != nil || got != want || ok != (want != "") {
				t.Errorf("USDRate(MAD, %s) = %q %v %v, want %q", day, got, ok, err, want)
			}
			return nil
		})
	}
}
