package paywall_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/access"
	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/paywall"
	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlstore"
	"github.com/livegate/livegate/internal/testenv"
)

// BenchmarkJoinAt1000PerSecond paces joins at 1,000 per second and measures, per join,
// the access decision (entitlement from PostgreSQL) plus the playback token and the
// session opened atomically in Redis under the concurrency cap: what a WHEP join costs
// before media. It reports p50 and p99.
func BenchmarkJoinAt1000PerSecond(b *testing.B) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, testenv.PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rs, err := sessions.NewRedis(testenv.RedisURL(b), testenv.UniquePrefix(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer rs.Close()
	bill, _ := billing.New(db, billing.Config{PublicURL: "http://localhost"})
	tokens, _ := access.NewPlaybackTokens("", 0)
	gate, err := access.NewGate(rs, tokens, access.GateConfig{Node: "bench", TTL: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	dec := &paywall.Decider{Entitlements: db, Offers: bill, Previews: rs}

	now := time.Now().UTC()
	c := store.Creator{ID: "cr_b", Name: "b", Country: "MA", CreatedAt: now}
	st := store.Stream{ID: "str_b", CreatorID: c.ID, Title: "b", AccessMode: store.AccessTicket, KeyHash: []byte{1},
		State: store.StateLive, CreatedAt: now, MaxSessions: 1, SessionPolicy: store.PolicyReject}
	if err := db.CreateCreator(ctx, c); err != nil {
		b.Fatal(err)
	}
	if err := db.CreateStream(ctx, st); err != nil {
		b.Fatal(err)
	}
	viewers := make([]string, b.N)
	for i := range viewers {
		viewers[i] = fmt.Sprintf("viewer-%d", i)
		_, err := db.ApplyEvent(ctx, fmt.Sprintf("evt_%d", i), "bench", func(tx store.BillingTx) error {
			_, err := tx.GrantEntitlement(store.Entitlement{ID: fmt.Sprintf("ent_%d", i), ViewerID: viewers[i], Kind: store.KindTicket,
				StreamID: st.ID, CreatorID: c.ID, Source: fmt.Sprintf("pi_%d", i), CreatedAt: now, UpdatedAt: now})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}

	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Millisecond) // 1,000 joins per second
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		<-tick.C
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			start := time.Now()
			right, err := dec.Decide(ctx, viewers[i], st, "MA")
			if err != nil {
				b.Error(err)
				return
			}
			grant, err := gate.Grant(right)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := gate.Admit(ctx, grant.Token, st); err != nil {
				b.Error(err)
				return
			}
			lat[i] = time.Since(start)
		}(i)
	}
	wg.Wait()
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	b.ReportMetric(p(1), "max-ms")
	if s, _ := rs.Stats(ctx, st.ID); s.Current != b.N {
		b.Fatalf("%d sessions open, want %d", s.Current, b.N)
	}
}
