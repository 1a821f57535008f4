package billing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlstore"
	"github.com/livegate/livegate/internal/testenv"
)

const secret = "whsec_bench"

// BenchmarkWebhookPostgres measures verified checkout.session.completed webhooks applied
// per second on PostgreSQL: signature check, event dedup row, entitlement and ledger row,
// one transaction each, from 8 concurrent deliveries.
func BenchmarkWebhookPostgres(b *testing.B) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, testenv.PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc, err := billing.New(db, billing.Config{WebhookSecret: secret, PublicURL: "http://localhost"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	c := store.Creator{ID: "cr_bench", Name: "Bench", Country: "MA", CreatedAt: now}
	st := store.Stream{ID: "str_bench", CreatorID: c.ID, Title: "b", AccessMode: store.AccessTicket, KeyHash: []byte{1}, State: store.StateLive, CreatedAt: now}
	if err := db.CreateCreator(ctx, c); err != nil {
		b.Fatal(err)
	}
	if err := db.CreateStream(ctx, st); err != nil {
		b.Fatal(err)
	}
	payloads := make([]*webhook.SignedPayload, b.N)
	for i := range payloads {
		co := store.Checkout{ID: fmt.Sprintf("co_bench_%d", i), ViewerID: fmt.Sprintf("v%d", i), Kind: store.KindTicket, StreamID: st.ID,
			CreatorID: c.ID, Country: "MA", Currency: "MAD", Amount: 4900, FeeBPS: 1500, Fee: 735, Payouts: "manual", State: "open", CreatedAt: now}
		if err := db.CreateCheckout(ctx, co); err != nil {
			b.Fatal(err)
		}
		raw, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("evt_bench_%d", i), "object": "event", "api_version": stripe.APIVersion,
			"type": "checkout.session.completed", "created": now.Unix(), "data": map[string]any{"object": map[string]any{
				"id": "cs_" + co.ID, "object": "checkout.session", "payment_status": "paid", "amount_total": 4900, "currency": "mad",
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
