package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// subscribe makes v a subscriber of creator on n: the checkout, Stripe's completed
// session and the first invoice (paid with payment intent pi).
// It returns the metadata Stripe's events of the subscription carry.
func subscribe(t *testing.T, n *testNode, v buyer, creator, sub, pi string) map[string]string {
	t.Helper()
	co := v.checkout("/v1/creators/" + creator + "/subscribe")
	md := map[string]string{"livegate_checkout": co.ID}
	n.deliver("evt_done_"+sub, "checkout.session.completed", map[string]any{"id": co.SessionID, "object": "checkout.session",
		"mode": "subscription", "payment_status": "paid", "amount_total": co.Amount, "currency": "mad", "subscription": sub, "metadata": md})
	paidInvoice(t, n, sub, "in_"+pi, pi, co.Amount, md, time.Now().AddDate(0, 1, 0))
	return md
}

func paidInvoice(t *testing.T, n *testNode, sub, invoice, pi string, amount int64, md map[string]string, periodEnd time.Time) {
	t.Helper()
	n.deliver("evt_paid_"+invoice, "invoice.paid", map[string]any{"id": invoice, "object": "invoice", "amount_paid": amount, "currency": "mad",
		"subscription": sub, "payment_intent": pi, "subscription_details": map[string]any{"metadata": md},
		"lines": map[string]any{"object": "list", "data": []any{map[string]any{"id": "il_" + invoice,
			"period": map[string]any{"start": time.Now().Unix(), "end": periodEnd.Unix()}}}}})
}

// A subscriber whose invoice is refunded, or lost in a dispute, stops watching within a
// second on every node, as a ticket holder does; the ledger books it; a later renewal
// that is paid opens access again. A refund that comes before its invoice.paid ends the
// access that invoice would have opened.
func TestSubscriptionRefundAndDisputeCutMediaOnEveryNode(t *testing.T) {
	settings := accessSettings(t)
	a, b := startNode(t, settings), startNode(t, settings)
	a.launchCountries()
	var c struct{ ID string }
	a.call("POST", "/v1/creators", map[string]any{"name": "Karim", "country": "MA"}, &c)
	if st := a.call("PUT", "/v1/creators/"+c.ID+"/subscription-prices/MAD", map[string]any{"amount": 2500}, nil); st != 200 {
		t.Fatalf("subscription price: %d", st)
	}
	// Two of the creator's streams, one published on each node; a subscriber may watch both.
	var onA, onB streamInfo
	for _, x := range []struct {
		n *testNode
		s *streamInfo
	}{{a, &onA}, {b, &onB}} {
		if st := x.n.call("POST", "/v1/streams", map[string]any{"creator_id": c.ID, "title": "Members only", "access_mode": "subscribers",
			"max_sessions": 2}, x.s); st != 201 {
			t.Fatalf("create stream: %d", st)
		}
		publish(t, x.n, *x.s, webrtc.MimeTypeVP8, 30)
	}

	for _, end := range []struct {
		name, reason string
		event        func(pi string)
	}{
		{"refund", "refunded", func(pi string) { a.deliver("evt_refund_"+pi, "charge.refunded", refundedCharge(pi, 2500, true)) }},
		{"lost dispute", "dispute lost", func(pi string) {
			a.deliver("evt_dispute_"+pi, "charge.dispute.closed", map[string]any{"id": "dp_" + pi, "object": "dispute",
				"status": "lost", "amount": 2500, "currency": "mad", "payment_intent": pi})
		}},
	} {
		t.Run(end.name, func(t *testing.T) {
			id := fmt.Sprintf("viewer-%d", time.Now().UnixNano())
			nadia := a.buyer(id, testenv.IPMorocco)
			sub, pi := "sub_"+id, "pi_"+id
			md := subscribe(t, a, nadia, c.ID, sub, pi)
			onNodeB := b.buyer(id, testenv.IPMorocco)
			var viewers []*viewer
			for _, w := range []struct {
				n  *testNode
				by buyer
				s  streamInfo
			}{{a, nadia, onA}, {b, onNodeB, onB}} {
				g := w.by.mustAccess(w.s.ID)
				if g.Access != "subscribers" {
					t.Fatalf("a subscriber's access: %+v", g)
				}
				v := mustWatchToken(t, w.n, w.s, g.PlaybackToken)
				v.waitPackets(t, "video", 10, 10*time.Second)
				viewers = append(viewers, v)
			}
			at := time.Now()
			end.event(pi)
			for i, v := range viewers {
				cut := v.waitClosed(t, 3*time.Second).Sub(at)
				if cut > time.Second {
					t.Errorf("node %d: media kept flowing %v after the %s, want < 1s", i, cut, end.name)
				}
				t.Logf("node %d: last media %v after the %s", i, cut.Round(time.Millisecond), end.name)
			}
			for _, n := range []*testNode{a, b} {
				if _, r := n.buyer(id, testenv.IPMorocco).access(onA.ID); r.status != 402 {
					t.Errorf("access after the %s: %d %s", end.name, r.status, r.body)
				}
			}
			var booked bool
			for _, e := range a.ledger(c.ID) {
				booked = booked || (e.PaymentIntent == pi && e.Gross == -2500)
			}
			if !booked {
				t.Errorf("the %s is not in the ledger: %+v", end.name, a.ledger(c.ID))
			}
			// Stripe charges the next month: access again, for that period.
			if e, err := a.Store.ActiveEntitlement(t.Context(), id, store.KindSubscription, "", c.ID, time.Now()); err == nil {
				t.Fatalf("still entitled after the %s: %+v", end.name, e)
			}
			paidInvoice(t, a, sub, "in_next_"+id, "pi_next_"+id, 2500, md, time.Now().AddDate(0, 2, 0))
			if g, r := nadia.access(onA.ID); r.status != 200 || g.Access != "subscribers" {
				t.Errorf("access after the next invoice is paid: %d %s", r.status, r.body)
			}
		})
	}

	// The refund before the invoice.paid it refunds: the invoice opens nothing.
	id := "viewer-early-refund"
	early := a.buyer(id, testenv.IPMorocco)
	co := early.checkout("/v1/creators/" + c.ID + "/subscribe")
	md := map[string]string{"livegate_checkout": co.ID}
	a.deliver("evt_early_refund", "charge.refunded", refundedCharge("pi_early", 2500, true))
	a.deliver("evt_done_early", "checkout.session.completed", map[string]any{"id": co.SessionID, "object": "checkout.session",
		"mode": "subscription", "payment_status": "paid", "amount_total": 2500, "currency": "mad", "subscription": "sub_early", "metadata": md})
	paidInvoice(t, a, "sub_early", "in_early", "pi_early", 2500, md, time.Now().AddDate(0, 1, 0))
	if _, r := early.access(onA.ID); r.status != 402 {
		t.Errorf("access from an invoice refunded before it was paid: %d %s", r.status, r.body)
	}
}
