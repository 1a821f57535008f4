package billing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlstore"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/internal/tipfeed"
)

const secret = "whsec_bench"

// benchMarket is a billing service on PostgreSQL (the development checkout) with a
// creator in Morocco and a live stream of mode.
func benchMarket(b *testing.B, mode store.AccessMode) (*sqlstore.DB, *billing.Service, store.Creator, store.Stream) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, testenv.PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	svc, err := billing.New(db, billing.Config{WebhookSecret: secret, PublicURL: "http://localhost"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	c := store.Creator{ID: store.NewID("cr"), Name: "Bench", Country: "MA", CreatedAt: now}
	st := store.Stream{ID: store.NewID("str"), CreatorID: c.ID, Title: "b", AccessMode: mode, KeyHash: []byte{1}, State: store.StateLive, CreatedAt: now}
	if err := db.CreateCreator(ctx, c); err != nil {
		b.Fatal(err)
	}
	if err := db.CreateStream(ctx, st); err != nil {
		b.Fatal(err)
	}
	return db, svc, c, st
}

// BenchmarkWebhookPostgres measures verified checkout.session.completed webhooks applied
// per second on PostgreSQL: signature check, event dedup row, entitlement and ledger row,
// one transaction each, from 8 concurrent deliveries.
func BenchmarkWebhookPostgres(b *testing.B) {
	ctx := context.Background()
	db, svc, c, st := benchMarket(b, store.AccessTicket)
	now := time.Now().UTC()
	payloads := make([]*webhook.SignedPayload, b.N)
	for i := range payloads {
		co := store.Checkout{ID: fmt.Sprintf("co_bench_%d", i), ViewerID: fmt.Sprintf("v%d", i), Kind: store.KindTicket, StreamID: st.ID,
			CreatorID: c.ID, Country: "MA", Currency: "MAD", Amount: 4900, FeeBPS: 1500, Fee: 735, Payouts: "manual", State: "open", CreatedAt: now}
		co.StripeSessionID = "cs_" + co.ID // the session livegate would have created, which the event must name
		if err := db.CreateCheckout(ctx, co); err != nil {
			b.Fatal(err)
		}
		raw, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("evt_bench_%d", i), "object": "event", "api_version": stripe.APIVersion,
			"type": "checkout.session.completed", "created": now.Unix(), "data": map[string]any{"object": map[string]any{
				"id": "cs_" + co.ID, "object": "checkout.session", "mode": "payment", "payment_status": "paid", "amount_total": 4900, "currency": "mad",
				"payment_intent": fmt.Sprintf("pi_bench_%d", i), "metadata": map[string]string{"livegate_checkout": co.ID}}}})
		payloads[i] = webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: raw, Secret: secret, Timestamp: now})
	}
	next := make(chan *webhook.SignedPayload, b.N)
	for _, p := range payloads {
		next <- p
	}
	close(next)
	b.SetParallelism(4) // 4 x GOMAXPROCS(2) = 8 concurrent deliveries
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p := <-next
			if err := svc.HandleWebhook(ctx, p.Payload, p.Header); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.StopTimer()
	led, _ := db.Ledger(ctx, c.ID)
	if len(led) != b.N {
		b.Fatalf("ledger has %d rows for %d events", len(led), b.N)
	}
}

// BenchmarkTipToFeedPostgres measures what a tip's viewers wait for: from the moment
// livegate receives the tip's verified payment webhook to the tip reaching a watcher of
// the stream's feed (the event stream's source), with PostgreSQL between them as in a
// fleet. Reports p50 and p99 in ms (target: within a second).
func BenchmarkTipToFeedPostgres(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, svc, c, st := benchMarket(b, store.AccessFree)
	now := time.Now().UTC()
	feed := tipfeed.New(ctx, db, 0, nil)
	tips, stop := feed.Subscribe(st.ID)
	defer stop()
	time.Sleep(300 * time.Millisecond)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		co := store.Checkout{ID: store.NewID("co"), ViewerID: "v", Kind: store.KindTip, StreamID: st.ID, CreatorID: c.ID, Country: "MA",
			Currency: "MAD", Amount: 2000, FeeBPS: 1500, Fee: 300, Payouts: "manual", State: "open", CreatedAt: now, Message: "bench"}
		co.StripeSessionID = "cs_" + co.ID
		if err := db.CreateCheckout(ctx, co); err != nil {
			b.Fatal(err)
		}
		raw, _ := json.Marshal(map[string]any{"id": "evt_" + co.ID, "object": "event", "api_version": stripe.APIVersion,
			"type": "checkout.session.completed", "created": time.Now().Unix(), "data": map[string]any{"object": map[string]any{
				"id": co.StripeSessionID, "object": "checkout.session", "mode": "payment", "payment_status": "paid", "amount_total": 2000,
				"currency": "mad", "payment_intent": "pi_" + co.ID, "metadata": map[string]string{"livegate_checkout": co.ID}}}})
		p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: raw, Secret: secret, Timestamp: time.Now()})
		// Payments arrive at any moment of the feed's poll, not in step with it.
		b.StopTimer()
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond) // about time: at any moment of the poll
		b.StartTimer()
		start := time.Now()
		if err := svc.HandleWebhook(ctx, p.Payload, p.Header); err != nil {
			b.Fatal(err)
		}
		select {
		case <-tips:
			lat = append(lat, time.Since(start))
		case <-time.After(5 * time.Second):
			b.Fatal("the tip never reached the feed")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
