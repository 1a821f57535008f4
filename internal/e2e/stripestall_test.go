package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/testenv"
)

// A Stripe API that answers nothing costs a buyer seconds, not minutes: the checkout
// answers 503 payments-unavailable with Retry-After within 10 s, counted and logged,
// and the buyer's next try goes through once Stripe is back. A completed payment's
// webhook still answers in time (its rate lookup gives up and the table's rate books
// the sale) and the buyer gets access.
func TestStalledStripeAnswersInTime(t *testing.T) {
	parallelWait(t)
	stripe := recordStripe(t)
	n := startMoneyNode(t, func(c *config.Config) { c.StripeAPIBase = stripe.URL })
	n.launchCountries()
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	amina, omar := n.buyer("viewer-amina", testenv.IPMorocco), n.buyer("viewer-omar", testenv.IPMorocco)
	paid := amina.checkout("/v1/streams/" + s.ID + "/checkout") // before the stall

	stripe.stall.Store(true)
	start := time.Now()
	r := omar.post("/v1/streams/" + s.ID + "/checkout")
	took := time.Since(start)
	t.Logf("checkout with Stripe stalled: %d after %v, Retry-After %q: %s", r.status, took, r.header.Get("Retry-After"), r.body)
	if r.status != 503 || r.problem.Type != "/problems/payments-unavailable" || r.header.Get("Retry-After") == "" || took > 10*time.Second {
		t.Errorf("a checkout while Stripe stalls: %d %s after %v, want 503 payments-unavailable with Retry-After within 10 s", r.status, r.body, took)
	}
	if stripe.held.Load() == 0 {
		t.Fatal("the checkout never reached the stalled Stripe")
	}
	if got := scrape(t, n.URL()+"/metrics", `livegate_stripe_failures_total{op="checkout_session",reason="timeout"}`); got < 1 {
		t.Errorf("stripe failures counted: %v, want the checkout's", got)
	}

	// Stripe's webhook for the payment made before the stall: it needs the API only for
	// the USD rate, which it gives up on in time.
	start = time.Now()
	wr := n.sendEvent("evt_paid_during_stall", "checkout.session.completed", completedSession(paid, "pi_amina_stall"), time.Now(), webhookSecret)
	took = time.Since(start)
	t.Logf("a completed payment's webhook with Stripe stalled: %d after %v", wr.status, took.Round(time.Millisecond))
	if wr.status != 200 || took > 8*time.Second {
		t.Errorf("a completed payment's webhook while Stripe stalls: %d %s after %v, want 200 within Stripe's timeout", wr.status, wr.body, took)
	}
	if g, r := amina.access(s.ID); r.status != 200 || g.Access != "ticket" {
		t.Errorf("the buyer's access after the webhook: %d %s", r.status, r.body)
	}

	stripe.stall.Store(false)
	if r := omar.post("/v1/streams/" + s.ID + "/checkout"); r.status != 201 || !strings.Contains(r.body, "checkout_url") {
		t.Errorf("a checkout once Stripe is back: %d %s", r.status, r.body)
	}
}
