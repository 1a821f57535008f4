package e2e

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

const webhookSecret = "whsec_livegate_test_secret"

// testViewerSecret signs the viewer tokens of nodes that take money: such a node mints
// none itself (no development door next to a Stripe key), the platform does.
const testViewerSecret = "test-platform-viewer-secret-7f3a9c2e5b1d"

// moneySettings bill through stripe-mock, place viewers with a GeoIP database behind a
// trusted proxy (the test client on 127.0.0.1 sends X-Forwarded-For) and keep data in a
// PostgreSQL schema of this test. Every node given these settings shares them.
func moneySettings(t *testing.T) func(*config.Config) {
	t.Helper()
	stripeMock, mmdb, pg := testenv.StripeMockURL(t), testenv.CountryMMDB(t), testenv.PostgresURL(t)
	return func(c *config.Config) {
		c.StripeSecretKey, c.StripeAPIBase, c.StripeWebhookSecret = "sk_test_livegate", stripeMock, webhookSecret
		c.ViewerJWTSecret = testViewerSecret
		c.GeoIPDB, c.TrustedProxies = mmdb, []string{"127.0.0.1/32", "::1/128"}
		c.DatabaseURL = pg
		c.OperatorKeys = []string{"alice=alice-operator-key-0123456789"}
	}
}

// chain applies config changes in order; nil ones are skipped.
func chain(fs ...func(*config.Config)) func(*config.Config) {
	return func(c *config.Config) {
		for _, f := range fs {
			if f != nil {
				f(c)
			}
		}
	}
}

func startMoneyNode(t *testing.T, mutate func(*config.Config)) *testNode {
	t.Helper()
	return startNode(t, chain(moneySettings(t), mutate))
}

// viewerToken is a viewer token for viewer: minted by a development node, or signed as
// the platform signs it for a node that takes money (testViewerSecret).
func (n *testNode) viewerToken(viewer string) string {
	return n.platformToken(viewer, "", "")
}

func (n *testNode) platformToken(sub, role, creator string) string {
	n.t.Helper()
	var out struct{ Token string }
	st := n.call("POST", "/v1/admin/dev/tokens", map[string]string{"viewer_id": sub, "role": role, "creator_id": creator}, &out)
	if st == 404 {
		return platformToken(n.t, testViewerSecret, sub, role, creator)
	}
	if st != 201 || out.Token == "" {
		n.t.Fatalf("mint a token for %s: %d", sub, st)
	}
	return out.Token
}

// buyer is a viewer somewhere in the world.
type buyer struct {
	n     *testNode
	id    string
	token string
	ip    string
}

func (n *testNode) buyer(id, ip string) buyer {
	return buyer{n: n, id: id, token: n.viewerToken(id), ip: ip}
}

func (b buyer) post(path string) rawResponse {
	return b.n.raw("POST", path, "", "", map[string]string{"Authorization": "Bearer " + b.token, "X-Forwarded-For": b.ip})
}

type checkoutInfo struct {
	ID          string `json:"id"`
	CheckoutURL string `json:"checkout_url"`
	Currency    string `json:"currency"`
	Amount      int64  `json:"amount"`
	Display     string `json:"display"`
	Country     string `json:"country"`
	State       string `json:"state"`
	// SessionID is the Stripe Checkout session livegate created (stripe-mock's id), which
	// a completed event must carry.
	SessionID string `json:"-"`
}

func (b buyer) checkout(path string) checkoutInfo {
	b.n.t.Helper()
	r := b.post(path)
	if r.status != 201 {
		b.n.t.Fatalf("checkout %s as %s from %s: %d %s", path, b.id, b.ip, r.status, r.body)
	}
	var c checkoutInfo
	if err := json.Unmarshal([]byte(r.body), &c); err != nil {
		b.n.t.Fatal(err)
	}
	stored, err := b.n.Store.Checkout(b.n.t.Context(), c.ID)
	if err != nil {
		b.n.t.Fatal(err)
	}
	c.SessionID = stored.StripeSessionID
	return c
}

func (n *testNode) setCountry(code string, body map[string]any) {
	n.t.Helper()
	var out map[string]any
	if st := n.call("PUT", "/v1/admin/countries/"+code, body, &out); st != 200 {
		n.t.Fatalf("set country %s: %d %v", code, st, out)
	}
}

// launchCountries configures Morocco (manual payouts, MAD, 15%), South Africa (Connect,
// ZAR, 10%) and Egypt (manual, EGP, launching in an hour).
func (n *testNode) launchCountries() {
	now := time.Now().UTC()
	n.setCountry("MA", map[string]any{"enabled": true, "launch_at": now.Add(-time.Minute), "currency": "MAD",
		"min_ticket": 1000, "max_ticket": 50000, "min_subscription": 2000, "max_subscription": 20000, "fee_bps": 1500, "payouts": "manual"})
	n.setCountry("ZA", map[string]any{"enabled": true, "launch_at": now.Add(-time.Minute), "currency": "ZAR",
		"min_ticket": 2000, "max_ticket": 100000, "min_subscription": 2000, "max_subscription": 50000, "fee_bps": 1000, "payouts": "connect"})
	n.setCountry("EG", map[string]any{"enabled": true, "launch_at": now.Add(time.Hour), "currency": "EGP",
		"min_ticket": 5000, "max_ticket": 500000, "min_subscription": 5000, "max_subscription": 300000, "fee_bps": 1000, "payouts": "manual"})
}

// ticketStream makes a creator in country and a ticket stream priced in prices.
func (n *testNode) ticketStream(country string, prices map[string]int64) (creatorID string, s streamInfo) {
	n.t.Helper()
	var c struct{ ID string }
	if st := n.call("POST", "/v1/creators", map[string]any{"name": "Yasmine", "country": country}, &c); st != 201 {
		n.t.Fatalf("create creator: %d", st)
	}
	if st := n.call("POST", "/v1/streams", map[string]any{"creator_id": c.ID, "title": "Gnawa night", "access_mode": "ticket"}, &s); st != 201 {
		n.t.Fatalf("create stream: %d", st)
	}
	var out map[string]any
	if st := n.call("PUT", "/v1/streams/"+s.ID+"/prices", map[string]any{"prices": prices}, &out); st != 200 {
		n.t.Fatalf("set prices: %d %v", st, out)
	}
	return c.ID, s
}

// sendEvent signs an event with the endpoint secret, as Stripe would, and posts it.
func (n *testNode) sendEvent(id, typ string, object map[string]any, signedAt time.Time, secret string) rawResponse {
	n.t.Helper()
	payload, _ := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": stripe.APIVersion, "type": typ,
		"created": signedAt.Unix(), "livemode": false, "data": map[string]any{"object": object}})
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: signedAt})
	return n.raw("POST", "/v1/webhooks/stripe", "application/json", string(payload), map[string]string{"Stripe-Signature": sp.Header})
}

func (n *testNode) deliver(id, typ string, object map[string]any) {
	n.t.Helper()
	if r := n.sendEvent(id, typ, object, time.Now(), webhookSecret); r.status != 200 {
		n.t.Fatalf("webhook %s %s: %d %s", typ, id, r.status, r.body)
	}
}

func completedSession(co checkoutInfo, pi string) map[string]any {
	return map[string]any{"id": co.SessionID, "object": "checkout.session", "mode": "payment", "payment_status": "paid",
		"amount_total": co.Amount, "currency": strings.ToLower(co.Currency), "payment_intent": pi,
		"metadata": map[string]string{"livegate_checkout": co.ID}}
}

func refundedCharge(pi string, amount int64, full bool) map[string]any {
	return map[string]any{"id": "ch_" + pi, "object": "charge", "payment_intent": pi, "amount_refunded": amount, "refunded": full}
}

func (n *testNode) ledger(creatorID string) []store.LedgerEntry {
	n.t.Helper()
	led, err := n.Store.Ledger(n.t.Context(), creatorID)
	if err != nil {
		n.t.Fatal(err)
	}
	return led
}

func (n *testNode) hasTicket(viewer, streamID, creatorID string) bool {
	_, err := n.Store.ActiveEntitlement(n.t.Context(), viewer, store.KindTicket, streamID, creatorID, time.Now())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		n.t.Fatal(err)
	}
	return err == nil
}

type earningsRow struct {
	Country, Currency, Month string
	Sales                    int
	Gross, Refunds, Fee, Net int64
}

func (n *testNode) earnings(creatorID string) []earningsRow {
	n.t.Helper()
	var out struct{ Earnings []earningsRow }
	if st := n.call("GET", "/v1/creators/"+creatorID+"/earnings", nil, &out); st != 200 {
		n.t.Fatalf("earnings: %d", st)
	}
	return out.Earnings
}

// A purchase delivered three times (and once more as a different event for the same
// payment) grants one entitlement and books one sale.
func TestTicketPurchaseExactlyOnce(t *testing.T) {
	n := startMoneyNode(t, nil)
	n.launchCountries()
	creator, s := n.ticketStream("MA", map[string]int64{"MAD": 4900, "ZAR": 9900})
	amina := n.buyer("viewer-amina", testenv.IPMorocco)

	co := amina.checkout("/v1/streams/" + s.ID + "/checkout")
	if co.Currency != "MAD" || co.Amount != 4900 || co.Display != "MAD 49.00" || co.Country != "MA" || co.CheckoutURL == "" {
		t.Fatalf("checkout = %+v, want MAD 49.00 for a viewer in Morocco with a Stripe URL", co)
	}
	if again := amina.checkout("/v1/streams/" + s.ID + "/checkout"); again.ID != co.ID {
		t.Fatalf("a retried checkout made a second one: %s then %s", co.ID, again.ID)
	}
	if n.hasTicket(amina.id, s.ID, creator) {
		t.Fatal("access granted before payment (e.g. from the redirect)")
	}
	for i := 0; i < 3; i++ {
		n.deliver("evt_completed_1", "checkout.session.completed", completedSession(co, "pi_amina"))
	}
	n.deliver("evt_async_1", "checkout.session.async_payment_succeeded", completedSession(co, "pi_amina"))

	if !n.hasTicket(amina.id, s.ID, creator) {
		t.Fatal("no ticket after the verified webhook")
	}
	expectProblem(t, "buying twice", amina.post("/v1/streams/"+s.ID+"/checkout"), 409, "already-entitled")
	ents, _ := n.Store.EntitlementsOfStream(t.Context(), s.ID)
	if len(ents) != 1 {
		t.Fatalf("%d entitlements, want 1", len(ents))
	}
	led := n.ledger(creator)
	if len(led) != 1 || led[0].Gross != 4900 || led[0].Fee != 735 || led[0].Net != 4165 || led[0].Payouts != "manual" || led[0].Country != "MA" {
		t.Fatalf("ledger = %+v, want one MAD 49.00 sale with a 15%% fee (735) on manual payouts", led)
	}
	e := n.earnings(creator)
	if len(e) != 1 || e[0].Country != "MA" || e[0].Currency != "MAD" || e[0].Sales != 1 || e[0].Gross != 4900 || e[0].Net != 4165 ||
		e[0].Month != time.Now().UTC().Format("2006-01") {
		t.Fatalf("earnings = %+v", e)
	}

	// The operator's export of what is owed to manually paid creators.
	req, _ := http.NewRequest("GET", n.URL()+"/v1/admin/payouts/manual.csv", nil)
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || len(rows) != 2 || rows[1][0] != creator || rows[1][13] != "4165" || rows[1][14] != "MAD 41.65" {
		t.Fatalf("manual payouts CSV = %v, %v", rows, err)
	}
}

// A refund that Stripe delivers before the purchase's completion never leaves access
// behind, and the books balance.
func TestRefundBeforeCompletion(t *testing.T) {
	n := startMoneyNode(t, nil)
	n.launchCountries()
	creator, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	omar := n.buyer("viewer-omar", testenv.IPMorocco)
	co := omar.checkout("/v1/streams/" + s.ID + "/checkout")

	n.deliver("evt_refund_first", "charge.refunded", refundedCharge("pi_omar", 4900, true))
	n.deliver("evt_completed_late", "checkout.session.completed", completedSession(co, "pi_omar"))
	if n.hasTicket(omar.id, s.ID, creator) {
		t.Fatal("refunded purchase left access behind")
	}
	e := n.earnings(creator)
	if len(e) != 1 || e[0].Gross != 4900 || e[0].Refunds != 4900 || e[0].Net != 0 || e[0].Fee != 0 {
		t.Fatalf("earnings after refund = %+v, want gross 4900, refunds 4900, net 0, fee 0", e)
	}
	// The viewer may buy again; it is a new checkout.
	if again := omar.checkout("/v1/streams/" + s.ID + "/checkout"); again.ID == co.ID {
		t.Fatal("a completed checkout was handed out again")
	}
}

// A refund after the purchase revokes access and books the refund, fee included.
func TestRefundAfterPurchase(t *testing.T) {
	n := startMoneyNode(t, nil)
	n.launchCountries()
	creator, s := n.ticketStream("MA", map[string]int64{"MAD": 10000})
	// What the access plane hears: the node's real revocation events.
	events := n.Gate.Store().Events(t.Context())
	v := n.buyer("viewer-salma", testenv.IPMorocco)
	co := v.checkout("/v1/streams/" + s.ID + "/checkout")
	n.deliver("evt_c", "checkout.session.completed", completedSession(co, "pi_salma"))
	n.deliver("evt_partial", "charge.refunded", refundedCharge("pi_salma", 4000, false))
	if !n.hasTicket(v.id, s.ID, creator) {
		t.Fatal("a partial refund revoked access")
	}
	n.deliver("evt_full", "charge.refunded", refundedCharge("pi_salma", 10000, true))
	n.deliver("evt_full", "charge.refunded", refundedCharge("pi_salma", 10000, true))
	if n.hasTicket(v.id, s.ID, creator) {
		t.Fatal("full refund left access")
	}
	ents, _ := n.Store.EntitlementsOfStream(t.Context(), s.ID)
	if len(ents) != 1 || ents[0].ViewerID != v.id {
		t.Fatalf("entitlements of the stream: %+v", ents)
	}
	var revoked []sessions.Event
	for wait := time.After(500 * time.Millisecond); ; {
		select {
		case e := <-events:
			if e.Kind == sessions.EventEntitlement {
				revoked = append(revoked, e)
			}
			continue
		case <-wait:
		}
		break
	}
	if len(revoked) != 1 || revoked[0].EntitlementID != ents[0].ID {
		t.Fatalf("access plane told of %d revocations: %+v, want one for %s's ticket", len(revoked), revoked, v.id)
	}
	var refunds, fee int64
	for _, l := range n.ledger(creator) {
		if l.Kind == store.LedgerRefund {
			refunds -= l.Gross
		}
		fee += l.Fee
	}
	if refunds != 10000 || fee != 0 {
		t.Fatalf("refunded %d with %d fee left, want 10000 and 0", refunds, fee)
	}
}

func TestWebhookSignatureChecks(t *testing.T) {
	n := startMoneyNode(t, nil)
	n.launchCountries()
	creator, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	co := n.buyer("viewer-x", testenv.IPMorocco).checkout("/v1/streams/" + s.ID + "/checkout")
	obj := completedSession(co, "pi_x")

	expectProblem(t, "forged signature", n.sendEvent("evt_forged", "checkout.session.completed", obj, time.Now(), "whsec_attacker"), 400, "bad-signature")
	expectProblem(t, "stale signature", n.sendEvent("evt_stale", "checkout.session.completed", obj, time.Now().Add(-10*time.Minute), webhookSecret), 400, "bad-signature")
	expectProblem(t, "no signature", n.raw("POST", "/v1/webhooks/stripe", "application/json", `{"id":"evt_1"}`, nil), 400, "bad-signature")
	if n.hasTicket("viewer-x", s.ID, creator) || len(n.ledger(creator)) != 0 {
		t.Fatal("a rejected webhook wrote something")
	}
	// The genuine delivery of the forged event's id is still applied: nothing was recorded.
	n.deliver("evt_forged", "checkout.session.completed", obj)
	if !n.hasTicket("viewer-x", s.ID, creator) {
		t.Fatal("genuine event not applied after a forged one with the same id")
	}
}

// The platform fee is zero while the country's waiver runs, and its bps after.
func TestFeeWaiver(t *testing.T) {
	n := startMoneyNode(t, nil)
	n.launchCountries()
	n.setCountry("ZA", map[string]any{"fee_waived_until": time.Now().Add(time.Hour).UTC()})

	var c struct{ ID string }
	n.call("POST", "/v1/creators", map[string]any{"name": "Thabo", "country": "ZA"}, &c)
	var s streamInfo
	n.call("POST", "/v1/streams", map[string]any{"creator_id": c.ID, "title": "Amapiano live", "access_mode": "ticket"}, &s)
	n.call("PUT", "/v1/streams/"+s.ID+"/prices", map[string]any{"prices": map[string]int64{"ZAR": 15000}}, nil)

	// Connect: not before the creator's account can take charges.
	early := n.buyer("viewer-early", testenv.IPSouthAfrica)
	expectProblem(t, "creator not onboarded", early.post("/v1/streams/"+s.ID+"/checkout"), 409, "creator-not-ready")
	var link struct {
		OnboardingURL string `json:"onboarding_url"`
	}
	if st := n.call("POST", "/v1/creators/"+c.ID+"/connect", nil, &link); st != 200 || link.OnboardingURL == "" {
		t.Fatalf("connect onboarding: %d %+v", st, link)
	}
	pay, _ := n.Store.CreatorPayment(t.Context(), c.ID)
	n.deliver("evt_acct", "account.updated", map[string]any{"id": pay.StripeAccountID, "object": "account",
		"charges_enabled": true, "payouts_enabled": true})

	a := early.checkout("/v1/streams/" + s.ID + "/checkout")
	n.deliver("evt_a", "checkout.session.completed", completedSession(a, "pi_during_waiver"))
	// The operator brings the waiver's end forward to a second from now; time passes.
	waiverEnds := time.Now().Add(time.Second).UTC()
	n.setCountry("ZA", map[string]any{"fee_waived_until": waiverEnds})
	time.Sleep(time.Until(waiverEnds) + 100*time.Millisecond) // about time: past the waiver
	b := n.buyer("viewer-late", testenv.IPSouthAfrica).checkout("/v1/streams/" + s.ID + "/checkout")
	n.deliver("evt_b", "checkout.session.completed", completedSession(b, "pi_after_waiver"))

	fees := map[string]int64{}
	for _, l := range n.ledger(c.ID) {
		fees[l.PaymentIntent] = l.Fee
		if l.Payouts != "connect" || l.Currency != "ZAR" {
			t.Errorf("ledger row %+v", l)
		}
	}
	if fee, ok := fees["pi_during_waiver"]; !ok || fee != 0 {
		t.Errorf("fee inside the waiver = %d (%v), want 0", fee, ok)
	}
	if fee := fees["pi_after_waiver"]; fee != 1500 {
		t.Errorf("fee after the waiver = %d, want 1500 (10%% of ZAR 150.00)", fee)
	}
}

// Viewers where paid live is off, not launched or unknown cannot buy; a stream with no
// price in the viewer's currency is not on sale there.
func TestCountryGates(t *testing.T) {
	n := startMoneyNode(t, nil)
	n.launchCountries()
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	for _, c := range []struct{ name, ip string }{
		{"Egypt, not launched yet", testenv.IPEgypt},
		{"France, never enabled", testenv.IPFrance},
		{"address outside the GeoIP database", "192.0.2.44"},
	} {
		expectProblem(t, c.name, n.buyer("v-"+c.ip, c.ip).post("/v1/streams/"+s.ID+"/checkout"), 451, "country-not-enabled")
	}
	expectProblem(t, "no ZAR price", n.buyer("v-za", testenv.IPSouthAfrica).post("/v1/streams/"+s.ID+"/checkout"), 409, "not-for-sale")
	expectProblem(t, "no viewer token", n.raw("POST", "/v1/streams/"+s.ID+"/checkout", "", "", map[string]string{"X-Forwarded-For": testenv.IPMorocco}), 401, "viewer-unauthorized")
	expectProblem(t, "forged viewer token", n.raw("POST", "/v1/streams/"+s.ID+"/checkout", "", "",
		map[string]string{"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bad"}), 401, "viewer-unauthorized")

	// Switching Morocco off stops sales there at once.
	if st := n.call("POST", "/v1/admin/countries/MA/disable", nil, nil); st != 200 {
		t.Fatalf("disable: %d", st)
	}
	expectProblem(t, "Morocco disabled", n.buyer("v-ma", testenv.IPMorocco).post("/v1/streams/"+s.ID+"/checkout"), 451, "country-not-enabled")
}

func TestSubscriptionLifecycle(t *testing.T) {
	n := startMoneyNode(t, nil)
	n.launchCountries()
	var c struct{ ID string }
	n.call("POST", "/v1/creators", map[string]any{"name": "Karim", "country": "MA"}, &c)
	var price map[string]any
	if st := n.call("PUT", "/v1/creators/"+c.ID+"/subscription-prices/MAD", map[string]any{"amount": 2500}, &price); st != 200 || price["display"] != "MAD 25.00" {
		t.Fatalf("subscription price: %d %v", st, price)
	}
	var bad map[string]any
	if st := n.call("PUT", "/v1/creators/"+c.ID+"/subscription-prices/MAD", map[string]any{"amount": 999999}, &bad); st != 422 || bad["field"] != "amount" {
		t.Fatalf("out-of-bounds subscription price: %d %v", st, bad)
	}
	v := n.buyer("viewer-nadia", testenv.IPMorocco)
	co := v.checkout("/v1/creators/" + c.ID + "/subscribe")
	if co.Amount != 2500 || co.Currency != "MAD" {
		t.Fatalf("subscription checkout %+v", co)
	}
	md := map[string]string{"livegate_checkout": co.ID}
	n.deliver("evt_sub_done", "checkout.session.completed", map[string]any{"id": co.SessionID, "object": "checkout.session",
		"mode": "subscription", "payment_status": "paid", "amount_total": 2500, "currency": "mad", "subscription": "sub_nadia", "metadata": md})
	periodEnd := time.Now().AddDate(0, 1, 0).Unix()
	n.deliver("evt_inv_1", "invoice.paid", map[string]any{"id": "in_1", "object": "invoice", "amount_paid": 2500, "currency": "mad",
		"subscription": "sub_nadia", "payment_intent": "pi_inv_1", "subscription_details": map[string]any{"metadata": md},
		"lines": map[string]any{"object": "list", "data": []any{map[string]any{"id": "il_1", "period": map[string]any{"start": time.Now().Unix(), "end": periodEnd}}}}})
	ent, err := n.Store.ActiveEntitlement(t.Context(), v.id, store.KindSubscription, "", c.ID, time.Now())
	if err != nil || ent.ExpiresAt.Unix() != periodEnd {
		t.Fatalf("subscription entitlement %+v, %v; want active until the invoice's period end", ent, err)
	}
	expectProblem(t, "subscribing twice", v.post("/v1/creators/"+c.ID+"/subscribe"), 409, "already-entitled")
	if led := n.ledger(c.ID); len(led) != 1 || led[0].Gross != 2500 || led[0].Fee != 375 {
		t.Fatalf("ledger %+v, want one MAD 25.00 sale with 15%% fee", led)
	}
	later := time.Now().AddDate(0, 2, 0).Unix()
	n.deliver("evt_sub_renewed", "customer.subscription.updated", map[string]any{"id": "sub_nadia", "object": "subscription",
		"status": "active", "current_period_end": later})
	if ent, err := n.Store.ActiveEntitlement(t.Context(), v.id, store.KindSubscription, "", c.ID, time.Now()); err != nil || ent.ExpiresAt.Unix() != later {
		t.Fatalf("after subscription.updated(active): %+v %v, want access until the new period end", ent, err)
	}
	n.deliver("evt_sub_past_due", "customer.subscription.updated", map[string]any{"id": "sub_nadia", "object": "subscription", "status": "past_due"})
	if _, err := n.Store.ActiveEntitlement(t.Context(), v.id, store.KindSubscription, "", c.ID, time.Now()); err != nil {
		t.Fatalf("past_due (Stripe still retrying) revoked access: %v", err)
	}
	n.deliver("evt_sub_unpaid", "customer.subscription.updated", map[string]any{"id": "sub_nadia", "object": "subscription", "status": "unpaid"})
	if _, err := n.Store.ActiveEntitlement(t.Context(), v.id, store.KindSubscription, "", c.ID, time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unpaid subscription still grants access: %v", err)
	}
	n.deliver("evt_sub_del", "customer.subscription.deleted", map[string]any{"id": "sub_nadia", "object": "subscription", "status": "canceled"})
	if _, err := n.Store.ActiveEntitlement(t.Context(), v.id, store.KindSubscription, "", c.ID, time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cancelled subscription still grants access: %v", err)
	}
}

// A creator cancelling a ticketed stream before it starts refunds every ticket, once.
func TestCancelTicketedStreamRefunds(t *testing.T) {
	n := startMoneyNode(t, nil)
	n.launchCountries()
	creator, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	for i, id := range []string{"v1", "v2"} {
		co := n.buyer(id, testenv.IPMorocco).checkout("/v1/streams/" + s.ID + "/checkout")
		n.deliver(fmt.Sprintf("evt_buy_%d", i), "checkout.session.completed", completedSession(co, "pi_"+id))
	}
	var out struct {
		State           string `json:"state"`
		TicketsRefunded int    `json:"tickets_refunded"`
	}
	if st := n.call("DELETE", "/v1/streams/"+s.ID, nil, &out); st != 200 || out.State != "ended" || out.TicketsRefunded != 2 {
		t.Fatalf("cancel: %d %+v, want ended with 2 tickets refunded", st, out)
	}
	for _, id := range []string{"v1", "v2"} {
		if n.hasTicket(id, s.ID, creator) {
			t.Errorf("%s kept access to a cancelled stream", id)
		}
	}
	var again struct {
		State           string `json:"state"`
		TicketsRefunded int    `json:"tickets_refunded"`
	}
	if st := n.call("DELETE", "/v1/streams/"+s.ID, nil, &again); st != 200 || again.State != "ended" || again.TicketsRefunded != 0 {
		t.Fatalf("cancelling again: %d %+v, want nothing more refunded", st, again)
	}
	// Stripe then confirms each refund; the books follow.
	n.deliver("evt_r1", "charge.refunded", refundedCharge("pi_v1", 4900, true))
	n.deliver("evt_r2", "charge.refunded", refundedCharge("pi_v2", 4900, true))
	if e := n.earnings(creator); len(e) != 1 || e[0].Refunds != 9800 || e[0].Net != 0 {
		t.Fatalf("earnings after cancellation %+v", e)
	}
}

func TestCountryAdminValidationAndAudit(t *testing.T) {
	n := startMoneyNode(t, nil)
	alice := map[string]string{"Authorization": "Bearer alice-operator-key-0123456789"}
	put := func(code, body string) rawResponse {
		return n.raw("PUT", "/v1/admin/countries/"+code, "application/json", body, alice)
	}
	launch := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	base := `"launch_at":"` + launch + `","min_ticket":1000,"max_ticket":50000,"min_subscription":2000,"max_subscription":20000`
	for _, c := range []struct{ name, code, body, field string }{
		{"unknown currency", "MA", `{"enabled":true,"currency":"XYZ",` + base + `}`, "currency"},
		{"fee above 100%", "MA", `{"enabled":true,"currency":"MAD","fee_bps":10001,` + base + `}`, "fee_bps"},
		{"min above max", "MA", `{"enabled":true,"currency":"MAD","launch_at":"` + launch + `","min_ticket":60000,"max_ticket":50000,"min_subscription":2000,"max_subscription":20000}`, "min_ticket"},
		{"waiver in the past when enabling", "MA", `{"enabled":true,"currency":"MAD","fee_waived_until":"2020-01-01T00:00:00Z",` + base + `}`, "fee_waived_until"},
		{"fractional yen", "JP", `{"currency":"JPY","min_ticket":4.5,"max_ticket":5000}`, "min_ticket"},
		{"fractional dirham", "MA", `{"currency":"MAD","max_ticket":49.99}`, "max_ticket"},
		{"bad payouts", "MA", `{"payouts":"cash"}`, "payouts"},
	} {
		r := put(c.code, c.body)
		expectProblem(t, c.name, r, 422, "invalid-field")
		if r.problem.Field != c.field {
			t.Errorf("%s: field %q, want %q", c.name, r.problem.Field, c.field)
		}
	}
	expectProblem(t, "unknown country", put("XX", `{}`), 404, "unknown-country")
	if r := put("MA", `{"enabled":true,"currency":"MAD","fee_bps":1500,"payouts":"manual",`+base+`}`); r.status != 200 {
		t.Fatalf("valid policy: %d %s", r.status, r.body)
	}
	if r := n.raw("POST", "/v1/admin/countries/MA/disable", "", "", alice); r.status != 200 {
		t.Fatalf("disable: %d", r.status)
	}
	var audit struct {
		Audit []struct {
			Actor  string
			Object string
			Before map[string]any
			After  map[string]any
		}
	}
	n.call("GET", "/v1/admin/audit?object=country:MA", nil, &audit)
	if len(audit.Audit) != 2 || audit.Audit[0].Actor != "alice" || audit.Audit[0].Before["enabled"] != true || audit.Audit[0].After["enabled"] != false {
		t.Fatalf("audit = %+v, want alice's two changes, newest first, with before and after", audit.Audit)
	}
	if audit.Audit[1].Before != nil {
		t.Errorf("first change's before = %v, want null", audit.Audit[1].Before)
	}
}

// Without a Stripe key the development checkout completes purchases through the same
// entitlement and ledger code.
func TestDevCheckout(t *testing.T) {
	mmdb := testenv.CountryMMDB(t)
	n := startNode(t, func(c *config.Config) {
		c.GeoIPDB = mmdb
		c.TrustedProxies = []string{"127.0.0.1/32"}
	})
	n.launchCountries()
	creator, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	v := n.buyer("viewer-dev", testenv.IPMorocco)
	co := v.checkout("/v1/streams/" + s.ID + "/checkout")
	if !strings.HasSuffix(co.CheckoutURL, "/dev/checkout/"+co.ID) {
		t.Fatalf("dev checkout URL %q", co.CheckoutURL)
	}
	page := n.raw("GET", "/dev/checkout/"+co.ID, "", "", nil)
	if page.status != 200 || !strings.Contains(page.body, "Development checkout") || !strings.Contains(page.body, "MAD 49.00") {
		t.Fatalf("dev checkout page: %d %s", page.status, page.body)
	}
	for i := 0; i < 2; i++ {
		if r := n.raw("POST", "/dev/checkout/"+co.ID+"/pay", "", "", map[string]string{"Accept": "application/json"}); r.status != 200 {
			t.Fatalf("pay: %d %s", r.status, r.body)
		}
	}
	if !n.hasTicket(v.id, s.ID, creator) {
		t.Fatal("no ticket after paying the dev checkout")
	}
	if led := n.ledger(creator); len(led) != 1 || led[0].Fee != 735 {
		t.Fatalf("ledger %+v, want one sale", led)
	}
	// Cancelling the ticketed stream refunds the ticket through the same webhook code.
	var cancelled struct {
		TicketsRefunded int `json:"tickets_refunded"`
	}
	if st := n.call("DELETE", "/v1/streams/"+s.ID, nil, &cancelled); st != 200 || cancelled.TicketsRefunded != 1 {
		t.Fatalf("cancel in development mode: %d %+v", st, cancelled)
	}
	if n.hasTicket(v.id, s.ID, creator) {
		t.Fatal("ticket survived the cancellation")
	}
	if e := n.earnings(creator); len(e) != 1 || e[0].Refunds != 4900 || e[0].Net != 0 {
		t.Fatalf("earnings after the dev refund %+v", e)
	}
	login := n.raw("POST", "/dev/login", "application/x-www-form-urlencoded", "viewer_id=amina", nil)
	if login.status != 200 || !strings.Contains(login.body, "Development login") || !strings.Contains(login.body, "livegate_viewer_token") {
		t.Fatalf("dev login: %d %s", login.status, login.body)
	}
	expectProblem(t, "webhooks without a secret", n.sendEvent("evt_1", "checkout.session.completed", completedSession(co, "pi_z"), time.Now(), webhookSecret), 400, "bad-signature")
}

// A lost dispute revokes and is booked; a won one changes nothing.
func TestDisputes(t *testing.T) {
	n := startMoneyNode(t, nil)
	n.launchCountries()
	creator, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	lost, won := n.buyer("viewer-lost", testenv.IPMorocco), n.buyer("viewer-won", testenv.IPMorocco)
	for _, b := range []buyer{lost, won} {
		co := b.checkout("/v1/streams/" + s.ID + "/checkout")
		n.deliver("evt_buy_"+b.id, "checkout.session.completed", completedSession(co, "pi_"+b.id))
		n.deliver("evt_dispute_open_"+b.id, "charge.dispute.created", map[string]any{"id": "dp_" + b.id, "object": "dispute",
			"payment_intent": "pi_" + b.id, "amount": 4900, "status": "needs_response"})
	}
	if !n.hasTicket(lost.id, s.ID, creator) {
		t.Fatal("an open dispute revoked access")
	}
	n.deliver("evt_dispute_lost", "charge.dispute.closed", map[string]any{"id": "dp_" + lost.id, "object": "dispute",
		"payment_intent": "pi_" + lost.id, "amount": 4900, "status": "lost"})
	n.deliver("evt_dispute_won", "charge.dispute.closed", map[string]any{"id": "dp_" + won.id, "object": "dispute",
		"payment_intent": "pi_" + won.id, "amount": 4900, "status": "won"})
	if n.hasTicket(lost.id, s.ID, creator) {
		t.Fatal("a lost dispute left access")
	}
	if !n.hasTicket(won.id, s.ID, creator) {
		t.Fatal("a won dispute revoked access")
	}
	var disputed []store.LedgerEntry
	for _, l := range n.ledger(creator) {
		if l.Kind == store.LedgerDisputeLost {
			disputed = append(disputed, l)
		}
	}
	if len(disputed) != 1 || disputed[0].Gross != -4900 || disputed[0].Fee != -735 || disputed[0].PaymentIntent != "pi_"+lost.id {
		t.Fatalf("dispute ledger rows %+v", disputed)
	}
}

// Delayed payment methods: access only once the payment succeeds; a failed one never.
func TestDelayedPayment(t *testing.T) {
	n := startMoneyNode(t, nil)
	n.launchCountries()
	creator, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	ok, bad := n.buyer("viewer-slow-ok", testenv.IPMorocco), n.buyer("viewer-slow-bad", testenv.IPMorocco)
	coOK := ok.checkout("/v1/streams/" + s.ID + "/checkout")
	coBad := bad.checkout("/v1/streams/" + s.ID + "/checkout")
	for _, co := range []checkoutInfo{coOK, coBad} {
		unpaid := completedSession(co, "pi_"+co.ID)
		unpaid["payment_status"] = "unpaid"
		n.deliver("evt_pending_"+co.ID, "checkout.session.completed", unpaid)
	}
	if n.hasTicket(ok.id, s.ID, creator) || n.hasTicket(bad.id, s.ID, creator) {
		t.Fatal("access before the delayed payment succeeded")
	}
	n.deliver("evt_async_ok", "checkout.session.async_payment_succeeded", completedSession(coOK, "pi_"+coOK.ID))
	failed := completedSession(coBad, "pi_"+coBad.ID)
	failed["payment_status"] = "unpaid"
	n.deliver("evt_async_bad", "checkout.session.async_payment_failed", failed)
	if !n.hasTicket(ok.id, s.ID, creator) {
		t.Fatal("no access after the delayed payment succeeded")
	}
	if n.hasTicket(bad.id, s.ID, creator) {
		t.Fatal("access after the delayed payment failed")
	}
	var state struct{ State string }
	r := n.raw("GET", "/v1/checkouts/"+coBad.ID, "", "", map[string]string{"Authorization": "Bearer " + bad.token})
	if err := json.Unmarshal([]byte(r.body), &state); err != nil || state.State != "failed" {
		t.Fatalf("failed checkout as the viewer sees it: %d %s", r.status, r.body)
	}
	if led := n.ledger(creator); len(led) != 1 {
		t.Fatalf("ledger %+v, want only the successful sale", led)
	}
}

// The ledger books what Stripe charged, in the currency it charged, when that is not
// what livegate offered: Adaptive Pricing presents a South African viewer's ticket in
// US dollars, and a promotion halves a Moroccan viewer's. No row mixes two currencies,
// and each fee is the one taken on that payment.
func TestLedgerBooksWhatStripeCharged(t *testing.T) {
	n := startMoneyNode(t, nil)
	n.launchCountries()

	// South Africa pays out through Connect: the application fee (10% of ZAR 99.00,
	// ZAR 9.90) is fixed at checkout and converted with the payment.
	var c struct{ ID string }
	n.call("POST", "/v1/creators", map[string]any{"name": "Thabo", "country": "ZA"}, &c)
	var s streamInfo
	n.call("POST", "/v1/streams", map[string]any{"creator_id": c.ID, "title": "Amapiano live", "access_mode": "ticket"}, &s)
	n.call("PUT", "/v1/streams/"+s.ID+"/prices", map[string]any{"prices": map[string]int64{"ZAR": 9900}}, nil)
	n.call("POST", "/v1/creators/"+c.ID+"/connect", nil, nil)
	pay, _ := n.Store.CreatorPayment(t.Context(), c.ID)
	n.deliver("evt_acct", "account.updated", map[string]any{"id": pay.StripeAccountID, "object": "account",
		"charges_enabled": true, "payouts_enabled": true})

	lerato := n.buyer("viewer-lerato", testenv.IPSouthAfrica)
	co := lerato.checkout("/v1/streams/" + s.ID + "/checkout")
	if co.Currency != "ZAR" || co.Amount != 9900 {
		t.Fatalf("checkout %+v, want ZAR 99.00", co)
	}
	inUSD := completedSession(co, "pi_lerato")
	inUSD["currency"], inUSD["amount_total"] = "usd", 545
	inUSD["currency_conversion"] = map[string]any{"source_currency": "zar", "amount_total": 9900,
		"amount_subtotal": 9900, "fx_rate": "0.05505"}
	n.deliver("evt_lerato", "checkout.session.completed", inUSD)
	if !n.hasTicket(lerato.id, s.ID, c.ID) {
		t.Fatal("a payment in the viewer's presented currency granted nothing")
	}

	// Morocco pays out manually: livegate's 15% is of what the viewer paid.
	youssef := n.buyer("viewer-youssef", testenv.IPMorocco)
	creatorMA, sMA := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	co2 := youssef.checkout("/v1/streams/" + sMA.ID + "/checkout")
	if co2.Currency != "MAD" || co2.Amount != 4900 {
		t.Fatalf("checkout %+v, want MAD 49.00", co2)
	}
	discounted := completedSession(co2, "pi_youssef")
	discounted["amount_total"] = 2450
	discounted["total_details"] = map[string]any{"amount_discount": 2450}
	n.deliver("evt_youssef", "checkout.session.completed", discounted)
	if !n.hasTicket(youssef.id, sMA.ID, creatorMA) {
		t.Fatal("a discounted payment granted nothing")
	}

	check := func(creator string, want store.LedgerEntry) {
		t.Helper()
		led := n.ledger(creator)
		if len(led) != 1 {
			t.Fatalf("ledger of %s = %+v, want one sale", creator, led)
		}
		got := led[0]
		if got.Currency != want.Currency || got.Gross != want.Gross || got.Fee != want.Fee || got.Net != want.Gross-want.Fee ||
			got.Country != want.Country {
			t.Errorf("sale booked %s %d fee %d net %d (%s), want %s %d fee %d net %d (%s)", got.Currency, got.Gross, got.Fee, got.Net,
				got.Country, want.Currency, want.Gross, want.Fee, want.Gross-want.Fee, want.Country)
		}
	}
	// USD 5.45 paid; the ZAR 9.90 fee at the session's rate (545/9900) is 54.5 US cents,
	// rounded half up as every fee is: USD 0.55.
	check(c.ID, store.LedgerEntry{Country: "ZA", Currency: "USD", Gross: 545, Fee: 55})
	// MAD 24.50 paid; 15% of it is MAD 3.68 (not 15% of the list price, MAD 7.35).
	check(creatorMA, store.LedgerEntry{Country: "MA", Currency: "MAD", Gross: 2450, Fee: 368})

	e := n.earnings(c.ID)
	if len(e) != 1 || e[0].Currency != "USD" || e[0].Gross != 545 || e[0].Country != "ZA" {
		t.Fatalf("earnings %+v, want one ZA row in USD", e)
	}
	// A refund of that sale is in the sale's currency.
	n.deliver("evt_lerato_refund", "charge.refunded", refundedCharge("pi_lerato", 545, true))
	for _, l := range n.ledger(c.ID) {
		if l.Currency != "USD" {
			t.Errorf("ledger row in %s after the refund of a USD sale: %+v", l.Currency, l)
		}
	}
	if n.hasTicket(lerato.id, s.ID, c.ID) {
		t.Error("the refunded ticket still grants access")
	}
}
