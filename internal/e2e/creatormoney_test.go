package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// postJSON posts body as the buyer, from the buyer's address.
func (b buyer) postJSON(path string, body any) rawResponse {
	raw, _ := json.Marshal(body)
	return b.n.raw("POST", path, "application/json", string(raw), map[string]string{"Authorization": "Bearer " + b.token, "X-Forwarded-For": b.ip})
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sseEvent is one server-sent event as a page's EventSource sees it.
type sseEvent struct {
	event, id, data string
	at              time.Time
}

// sseFeed reads an event stream in the background, as a viewer's page or the studio does.
type sseFeed struct {
	mu     sync.Mutex
	events []sseEvent
	cancel context.CancelFunc
	done   chan struct{}
}

func openSSE(t *testing.T, u string) *sseFeed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		cancel()
		t.Fatalf("open %s: %v %v", u, err, resp)
	}
	f := &sseFeed{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.event != "" || cur.data != "" {
					cur.at = time.Now()
					f.mu.Lock()
					f.events = append(f.events, cur)
					f.mu.Unlock()
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				cur.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				cur.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				cur.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	t.Cleanup(func() { f.cancel(); <-f.done })
	return f
}

func (f *sseFeed) of(kind string) []sseEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sseEvent
	for _, e := range f.events {
		if e.event == kind {
			out = append(out, e)
		}
	}
	return out
}

// goLive publishes real media to s and waits until livegate says it is live.
func goLive(t *testing.T, n *testNode, s streamInfo) *publisher {
	t.Helper()
	p := publish(t, n, s, "video/VP8", 30)
	eventually(t, 10*time.Second, "stream live", func() bool { return n.stream(s.ID).State == "live" })
	return p
}

// A tip: bounded per country, paid through Checkout, shown on every open event stream of
// the stream once (however often Stripe delivers its webhook) and only after it, booked
// with the country's fee and waiver, and refunded on the ledger.
func TestTipShowsOnceAfterItsWebhook(t *testing.T) {
	n := startMoneyNode(t, nil)
	n.launchCountries()
	n.setCountry("MA", map[string]any{"min_tip": 1000, "max_tip": 50000})
	creator, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	tipper := n.buyer("viewer-tipper", testenv.IPMorocco)

	expectProblem(t, "tip before the stream is live", tipper.postJSON("/v1/streams/"+s.ID+"/tips", map[string]any{"amount": 2000}), 409, "stream-not-live")
	goLive(t, n, s)

	events := "/v1/streams/" + s.ID + "/stats/events"
	viewerPage, studio := openSSE(t, n.URL()+events), openSSE(t, n.URL()+events)

	for _, c := range []struct {
		name   string
		b      buyer
		body   map[string]any
		status int
		typ    string
	}{
		{"under Morocco's bound", tipper, map[string]any{"amount": 999}, 422, "invalid-field"},
		{"over Morocco's bound", tipper, map[string]any{"amount": 50001}, 422, "invalid-field"},
		{"no amount", tipper, map[string]any{"message": "hi"}, 422, "invalid-field"},
		{"a message too long", tipper, map[string]any{"amount": 2000, "message": strings.Repeat("x", 201)}, 422, "invalid-field"},
		{"a message with a line break", tipper, map[string]any{"amount": 2000, "message": "a\nb"}, 422, "invalid-field"},
		{"from Egypt, not launched", n.buyer("viewer-eg", testenv.IPEgypt), map[string]any{"amount": 5000}, 451, "country-not-enabled"},
		{"from South Africa, no tips there", n.buyer("viewer-za", testenv.IPSouthAfrica), map[string]any{"amount": 5000}, 409, "not-for-sale"},
	} {
		expectProblem(t, c.name, c.b.postJSON("/v1/streams/"+s.ID+"/tips", c.body), c.status, c.typ)
	}

	r := tipper.postJSON("/v1/streams/"+s.ID+"/tips", map[string]any{"amount": 2000, "message": "Mabrouk! 🎉"})
	if r.status != 201 {
		t.Fatalf("tip checkout: %d %s", r.status, r.body)
	}
	var co checkoutInfo
	_ = json.Unmarshal([]byte(r.body), &co)
	stored, _ := n.Store.Checkout(t.Context(), co.ID)
	co.SessionID = stored.StripeSessionID
	if co.Amount != 2000 || co.Currency != "MAD" || stored.Kind != store.KindTip {
		t.Fatalf("tip checkout %s", r.body)
	}
	// Nothing shows for a checkout: only a paid tip does.
	time.Sleep(time.Second)
	if got := viewerPage.of("tip"); len(got) != 0 {
		t.Fatalf("a tip showed before its payment: %+v", got)
	}

	done := completedSession(co, "pi_tip_1")
	delivered := time.Now()
	for i := 0; i < 3; i++ { // Stripe retries: the same event three times
		n.deliver("evt_tip_1", "checkout.session.completed", done)
	}
	n.deliver("evt_tip_1_async", "checkout.session.async_payment_succeeded", done) // and a second event for the same payment
	eventually(t, 5*time.Second, "the tip on the viewer's page", func() bool { return len(viewerPage.of("tip")) > 0 })
	eventually(t, 5*time.Second, "the tip in the studio", func() bool { return len(studio.of("tip")) > 0 })
	t.Logf("tip on the viewer's page %v after its webhook", viewerPage.of("tip")[0].at.Sub(delivered).Round(time.Millisecond))
	time.Sleep(1500 * time.Millisecond) // any duplicate would have come by now
	for name, f := range map[string]*sseFeed{"viewer page": viewerPage, "studio": studio} {
		tips := f.of("tip")
		if len(tips) != 1 {
			t.Fatalf("%s got %d tip events, want exactly 1: %+v", name, len(tips), tips)
		}
		var tip struct {
			Amount   int64  `json:"amount"`
			Currency string `json:"currency"`
			Display  string `json:"display"`
			Message  string `json:"message"`
			ViewerID string `json:"viewer_id"`
		}
		if err := json.Unmarshal([]byte(tips[0].data), &tip); err != nil || tip.Amount != 2000 || tip.Display != "MAD 20.00" ||
			tip.Message != "Mabrouk! 🎉" || tip.ViewerID != tipper.id || tips[0].id == "" {
			t.Errorf("%s tip event %+v (%v)", name, tips[0], err)
		}
	}
	var list struct {
		Tips []map[string]any `json:"tips"`
	}
	if st := n.call("GET", "/v1/streams/"+s.ID+"/tips", nil, &list); st != 200 || len(list.Tips) != 1 {
		t.Fatalf("tips list: %d %+v", st, list)
	}

	// On the ledger, with Morocco's 15% fee; a tip while a waiver runs pays none.
	find := func(pi, kind string) (store.LedgerEntry, bool) {
		for _, l := range n.ledger(creator) {
			if l.PaymentIntent == pi && l.Kind == kind {
				return l, true
			}
		}
		return store.LedgerEntry{}, false
	}
	if l, ok := find("pi_tip_1", store.LedgerTip); !ok || l.Gross != 2000 || l.Fee != 300 || l.Net != 1700 || l.Country != "MA" || l.ViewerID != tipper.id {
		t.Fatalf("tip ledger row %+v (%v), want MAD 20.00 gross, 3.00 fee", l, ok)
	}
	n.setCountry("MA", map[string]any{"fee_waived_until": time.Now().Add(time.Hour).UTC()})
	r = n.buyer("viewer-tipper-2", testenv.IPMorocco).postJSON("/v1/streams/"+s.ID+"/tips", map[string]any{"amount": 5000})
	var co2 checkoutInfo
	_ = json.Unmarshal([]byte(r.body), &co2)
	stored2, _ := n.Store.Checkout(t.Context(), co2.ID)
	co2.SessionID = stored2.StripeSessionID
	n.deliver("evt_tip_2", "checkout.session.completed", completedSession(co2, "pi_tip_2"))
	if l, ok := find("pi_tip_2", store.LedgerTip); !ok || l.Fee != 0 || l.Net != 5000 {
		t.Fatalf("tip during the waiver %+v (%v), want no fee", l, ok)
	}
	eventually(t, 5*time.Second, "the second tip", func() bool { return len(viewerPage.of("tip")) == 2 })

	// A refunded tip is booked back, and leaves the stream's list.
	n.deliver("evt_tip_1_refund", "charge.refunded", refundedCharge("pi_tip_1", 2000, true))
	if l, ok := find("pi_tip_1", store.LedgerRefund); !ok || l.Gross != -2000 || l.Fee != -300 || l.Net != -1700 {
		t.Fatalf("tip refund row %+v (%v)", l, ok)
	}
	n.call("GET", "/v1/streams/"+s.ID+"/tips", nil, &list)
	if len(list.Tips) != 1 || list.Tips[0]["amount"] != float64(5000) {
		t.Fatalf("tips after the refund: %+v", list.Tips)
	}
}

// stripeCall is one request livegate made to Stripe.
type stripeCall struct {
	method, path string
	form         url.Values
}

// stripeRecorder stands between livegate and stripe-mock and keeps every request, so a
// test sees what livegate asked Stripe to do.
type stripeRecorder struct {
	URL   string
	mu    sync.Mutex
	calls []stripeCall
}

func recordStripe(t *testing.T) *stripeRecorder {
	t.Helper()
	target, err := url.Parse(testenv.StripeMockURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := &stripeRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		rec.mu.Lock()
		rec.calls = append(rec.calls, stripeCall{r.Method, r.URL.Path, form})
		rec.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

// to lists the calls to path (a prefix) with method.
func (s *stripeRecorder) to(method, path string) []stripeCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []stripeCall
	for _, c := range s.calls {
		if c.method == method && strings.HasPrefix(c.path, path) {
			out = append(out, c)
		}
	}
	return out
}

// A promo code capped at 10 redemptions, raced by 30 viewers' checkouts at once, is held
// by exactly 10 and redeemed by exactly 10; Stripe gets the code as a promotion code; the
// ledger books gross, discount and fee; an expired checkout gives its redemption back.
func TestPromoCodeCapHoldsUnderRacingCheckouts(t *testing.T) {
	rec := recordStripe(t)
	n := startMoneyNode(t, func(c *config.Config) { c.StripeAPIBase = rec.URL })
	n.launchCountries()
	creator, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	_, other := n.ticketStream("MA", map[string]int64{"MAD": 4900})

	var promo map[string]any
	if st := n.call("POST", "/v1/creators/"+creator+"/promo-codes", map[string]any{"code": "launch20", "percent_off": 20,
		"max_redemptions": 10, "stream_id": s.ID, "expires_at": time.Now().Add(24 * time.Hour)}, &promo); st != 201 || promo["code"] != "LAUNCH20" {
		t.Fatalf("create promo: %d %v", st, promo)
	}
	if c := rec.to("POST", "/v1/coupons"); len(c) != 1 || c[0].form.Get("metadata[livegate_code]") != "LAUNCH20" ||
		c[0].form.Get("max_redemptions") != "10" || c[0].form.Get("duration") != "once" {
		t.Fatalf("Stripe coupon calls %+v", c)
	}
	for _, bad := range []struct {
		name string
		body map[string]any
	}{
		{"both kinds of discount", map[string]any{"code": "X20OFF", "percent_off": 20, "amount_off": 500, "currency": "MAD", "max_redemptions": 5}},
		{"100% off", map[string]any{"code": "FREE100", "percent_off": 100, "max_redemptions": 5}},
		{"no cap", map[string]any{"code": "NOCAP", "percent_off": 10}},
		{"already expired", map[string]any{"code": "OLD10", "percent_off": 10, "max_redemptions": 5, "expires_at": time.Now().Add(-time.Hour)}},
		{"another creator's stream", map[string]any{"code": "THEIRS", "percent_off": 10, "max_redemptions": 5, "stream_id": other.ID}},
	} {
		expectProblem(t, bad.name, n.raw("POST", "/v1/creators/"+creator+"/promo-codes", "application/json", mustJSON(bad.body), n.operator()), 422, "invalid-field")
	}
	expectProblem(t, "the same code twice", n.raw("POST", "/v1/creators/"+creator+"/promo-codes", "application/json",
		mustJSON(map[string]any{"code": "LAUNCH20", "percent_off": 5, "max_redemptions": 1}), n.operator()), 409, "promo-code-taken")

	buyers := make([]buyer, 30)
	for i := range buyers {
		buyers[i] = n.buyer(fmt.Sprintf("racer-%02d", i), testenv.IPMorocco)
	}
	expectProblem(t, "the code on another stream", buyers[0].postJSON("/v1/streams/"+other.ID+"/checkout", map[string]any{"promo_code": "LAUNCH20"}), 422, "promo-code-invalid")
	var wg sync.WaitGroup
	results := make([]rawResponse, len(buyers))
	start := make(chan struct{})
	for i, b := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = b.postJSON("/v1/streams/"+s.ID+"/checkout", map[string]any{"promo_code": "launch20"})
		}()
	}
	close(start)
	wg.Wait()
	var held []checkoutInfo
	exhausted := 0
	for i, r := range results {
		switch {
		case r.status == 201:
			var co checkoutInfo
			_ = json.Unmarshal([]byte(r.body), &co)
			stored, _ := n.Store.Checkout(t.Context(), co.ID)
			co.SessionID = stored.StripeSessionID
			if co.Amount != 3920 || stored.Discount != 980 || stored.PromoCodeID == "" || stored.ViewerID != buyers[i].id {
				t.Errorf("discounted checkout %s (%+v)", r.body, stored)
			}
			held = append(held, co)
		case r.status == 409 && strings.HasSuffix(r.problem.Type, "/promo-code-exhausted"):
			exhausted++
		default:
			t.Errorf("racer %d: %d %s", i, r.status, r.body)
		}
	}
	if len(held) != 10 || exhausted != 20 {
		t.Fatalf("%d checkouts hold the code and %d were refused; want exactly 10 and 20", len(held), exhausted)
	}
	sessions := rec.to("POST", "/v1/checkout/sessions")
	withCode := 0
	for _, c := range sessions {
		if c.form.Get("discounts[0][coupon]") != "" {
			withCode++
			if c.form.Get("line_items[0][price_data][unit_amount]") != "4900" {
				t.Errorf("a discounted session's list price %q, want 4900 (Stripe takes the discount off)", c.form.Get("line_items[0][price_data][unit_amount]"))
			}
		}
	}
	if withCode != 10 {
		t.Errorf("%d Stripe sessions carry the code's coupon, want 10", withCode)
	}

	// One walks away: Stripe expires the session and the redemption goes back.
	walked := held[9]
	n.deliver("evt_expired", "checkout.session.expired", map[string]any{"id": walked.SessionID, "object": "checkout.session",
		"mode": "payment", "status": "expired", "metadata": map[string]string{"livegate_checkout": walked.ID}})
	late := n.buyer("racer-late", testenv.IPMorocco)
	r := late.postJSON("/v1/streams/"+s.ID+"/checkout", map[string]any{"promo_code": "LAUNCH20"})
	if r.status != 201 {
		t.Fatalf("checkout after a redemption came back: %d %s", r.status, r.body)
	}
	var lateCo checkoutInfo
	_ = json.Unmarshal([]byte(r.body), &lateCo)
	storedLate, _ := n.Store.Checkout(t.Context(), lateCo.ID)
	lateCo.SessionID = storedLate.StripeSessionID
	held = append(held[:9], lateCo)
	expectProblem(t, "the 11th", n.buyer("racer-11", testenv.IPMorocco).postJSON("/v1/streams/"+s.ID+"/checkout",
		map[string]any{"promo_code": "LAUNCH20"}), 409, "promo-code-exhausted")

	for i, co := range held {
		done := completedSession(co, fmt.Sprintf("pi_promo_%d", i))
		done["total_details"] = map[string]any{"amount_discount": 980}
		n.deliver(fmt.Sprintf("evt_promo_%d", i), "checkout.session.completed", done)
		n.deliver(fmt.Sprintf("evt_promo_%d", i), "checkout.session.completed", done) // a retry redeems nothing more
	}
	var codes struct {
		PromoCodes []struct {
			Code               string
			Redeemed, Reserved int
		} `json:"promo_codes"`
	}
	if st := n.call("GET", "/v1/creators/"+creator+"/promo-codes", nil, &codes); st != 200 || len(codes.PromoCodes) != 1 ||
		codes.PromoCodes[0].Redeemed != 10 || codes.PromoCodes[0].Reserved != 10 {
		t.Fatalf("promo codes after the sales: %d %+v, want 10 redeemed", st, codes)
	}
	sales := 0
	for _, l := range n.ledger(creator) {
		if l.Kind == store.LedgerSale {
			sales++
			if l.Gross != 3920 || l.Discount != 980 || l.Fee != 588 || l.Net != 3332 {
				t.Errorf("ledger sale %+v, want MAD 39.20 paid, 9.80 discount, 15%% fee of what was paid", l)
			}
		}
	}
	if sales != 10 {
		t.Errorf("%d sales booked, want 10", sales)
	}
}

// percent reads a percentage Stripe was sent ("10.0000"); -1 when there is none.
func percent(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return -1
	}
	return f
}

// operator is the header of the node's operator key.
func (n *testNode) operator() map[string]string {
	return map[string]string{"Authorization": "Bearer " + n.apiKey()}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A gifted ticket: the buyer pays, the recipient watches; a refund revokes the
// recipient's access.
func TestGiftedTicket(t *testing.T) {
	n := startMoneyNode(t, nil)
	n.launchCountries()
	creator, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	giver := n.buyer("viewer-giver", testenv.IPMorocco)
	friend := n.buyer("viewer-friend", testenv.IPMorocco)

	expectProblem(t, "a gift to oneself", giver.postJSON("/v1/streams/"+s.ID+"/checkout", map[string]any{"recipient_id": giver.id}), 422, "bad-recipient")
	r := giver.postJSON("/v1/streams/"+s.ID+"/checkout", map[string]any{"recipient_id": friend.id})
	if r.status != 201 {
		t.Fatalf("gift checkout: %d %s", r.status, r.body)
	}
	var co checkoutInfo
	_ = json.Unmarshal([]byte(r.body), &co)
	stored, _ := n.Store.Checkout(t.Context(), co.ID)
	co.SessionID = stored.StripeSessionID
	if stored.ViewerID != giver.id || stored.RecipientID != friend.id || co.Amount != 4900 {
		t.Fatalf("gift checkout %+v", stored)
	}
	n.deliver("evt_gift", "checkout.session.completed", completedSession(co, "pi_gift"))

	if !n.hasTicket(friend.id, s.ID, creator) || n.hasTicket(giver.id, s.ID, creator) {
		t.Fatalf("after the gift: recipient has a ticket %v, giver %v; want only the recipient", n.hasTicket(friend.id, s.ID, creator), n.hasTicket(giver.id, s.ID, creator))
	}
	friend.mustAccess(s.ID)
	if _, r := giver.access(s.ID); r.status != 402 {
		t.Fatalf("the giver's access: %d %s, want 402", r.status, r.body)
	}
	expectProblem(t, "a second gift to a viewer with a ticket", n.buyer("viewer-other", testenv.IPMorocco).postJSON("/v1/streams/"+s.ID+"/checkout",
		map[string]any{"recipient_id": friend.id}), 409, "already-entitled")
	// The giver paid: the ledger's sale is the giver's.
	if led := n.ledger(creator); len(led) != 1 || led[0].ViewerID != giver.id || led[0].Gross != 4900 {
		t.Fatalf("ledger %+v", led)
	}

	n.deliver("evt_gift_refund", "charge.refunded", refundedCharge("pi_gift", 4900, true))
	if n.hasTicket(friend.id, s.ID, creator) {
		t.Fatal("the refunded gift still grants the recipient a ticket")
	}
	if _, r := friend.access(s.ID); r.status != 402 {
		t.Fatalf("the recipient's access after the refund: %d %s, want 402", r.status, r.body)
	}
}

// A Connect subscription sold while South Africa's fee is waived starts paying the
// platform fee on its renewals once the waiver ends: livegate moves the subscription's
// application_fee_percent at Stripe on invoice.upcoming, fixes the draft renewal on
// invoice.created, and books what Stripe then takes.
func TestSubscriptionFeeFollowsTheWaiver(t *testing.T) {
	rec := recordStripe(t)
	n := startMoneyNode(t, func(c *config.Config) { c.StripeAPIBase = rec.URL })
	n.launchCountries()
	n.setCountry("ZA", map[string]any{"fee_waived_until": time.Now().Add(time.Hour).UTC()})
	var c struct{ ID string }
	n.call("POST", "/v1/creators", map[string]any{"name": "Thabo", "country": "ZA"}, &c)
	n.call("POST", "/v1/creators/"+c.ID+"/connect", nil, nil)
	pay, _ := n.Store.CreatorPayment(t.Context(), c.ID)
	n.deliver("evt_acct", "account.updated", map[string]any{"id": pay.StripeAccountID, "object": "account",
		"charges_enabled": true, "payouts_enabled": true})
	if st := n.call("PUT", "/v1/creators/"+c.ID+"/subscription-prices/ZAR", map[string]any{"amount": 20000}, nil); st != 200 {
		t.Fatalf("subscription price: %d", st)
	}
	v := n.buyer("viewer-sub", testenv.IPSouthAfrica)
	co := v.checkout("/v1/creators/" + c.ID + "/subscribe")
	sess := rec.to("POST", "/v1/checkout/sessions")
	if len(sess) != 1 || percent(sess[0].form.Get("subscription_data[application_fee_percent]")) != 0 {
		t.Fatalf("subscription checkout during the waiver: %+v", sess)
	}
	md := map[string]string{"livegate_checkout": co.ID}
	n.deliver("evt_sub", "checkout.session.completed", map[string]any{"id": co.SessionID, "object": "checkout.session",
		"mode": "subscription", "payment_status": "paid", "amount_total": 20000, "currency": "zar", "subscription": "sub_waived", "metadata": md})
	invoice := func(id string, fee int64, extra map[string]any) map[string]any {
		m := map[string]any{"id": id, "object": "invoice", "amount_paid": 20000, "amount_due": 20000, "currency": "zar",
			"subscription": "sub_waived", "payment_intent": "pi_" + id, "application_fee_amount": fee,
			"subscription_details": map[string]any{"metadata": md},
			"lines": map[string]any{"object": "list", "data": []any{map[string]any{"id": "il_" + id,
				"period": map[string]any{"start": time.Now().Unix(), "end": time.Now().AddDate(0, 1, 0).Unix()}}}}}
		for k, x := range extra {
			m[k] = x
		}
		return m
	}
	n.deliver("evt_inv_first", "invoice.paid", invoice("in_first", 0, nil))

	// The waiver ends; the next renewal is announced.
	ends := time.Now().Add(time.Second).UTC()
	n.setCountry("ZA", map[string]any{"fee_waived_until": ends})
	time.Sleep(time.Until(ends) + 100*time.Millisecond)
	n.deliver("evt_upcoming", "invoice.upcoming", invoice("", 0, map[string]any{"next_payment_attempt": time.Now().Add(72 * time.Hour).Unix()}))
	upd := rec.to("POST", "/v1/subscriptions/sub_waived")
	if len(upd) != 1 || percent(upd[0].form.Get("application_fee_percent")) != 10 {
		t.Fatalf("subscription updates at Stripe %+v, want application_fee_percent=10 (South Africa's 10%%)", upd)
	}
	// The renewal's draft was made before the update reached it: its fee is corrected.
	n.deliver("evt_created", "invoice.created", invoice("in_renewal", 0, map[string]any{"status": "draft", "amount_paid": 0}))
	if fix := rec.to("POST", "/v1/invoices/in_renewal"); len(fix) != 1 || fix[0].form.Get("application_fee_amount") != "2000" {
		t.Fatalf("draft invoice updates %+v, want application_fee_amount=2000; all calls %+v", fix, rec.to("POST", "/"))
	}
	n.deliver("evt_renewal", "invoice.paid", invoice("in_renewal", 2000, nil))
	fees := map[string]int64{}
	for _, l := range n.ledger(c.ID) {
		fees[l.StripeObject] = l.Fee
	}
	if fees["in_first"] != 0 || fees["in_renewal"] != 2000 {
		t.Fatalf("ledger fees %v, want none in the waiver and ZAR 20.00 on the renewal after it", fees)
	}
	// A delivery of the same event again changes nothing at Stripe.
	n.deliver("evt_upcoming", "invoice.upcoming", invoice("", 0, map[string]any{"next_payment_attempt": time.Now().Add(72 * time.Hour).Unix()}))
	if upd := rec.to("POST", "/v1/subscriptions/sub_waived"); len(upd) != 2 {
		t.Errorf("%d subscription updates after a duplicate event", len(upd))
	}
}
