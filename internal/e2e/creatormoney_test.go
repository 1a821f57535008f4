package e2e

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/notify"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// postJSON posts body as the buyer, from the buyer's address.
func (b buyer) postJSON(path string, body any) rawResponse {
	raw, _ := json.Marshal(body)
	return b.n.raw("POST", path, "application/json", string(raw), map[string]string{"Authorization": "Bearer " + b.token, "X-Forwarded-For": b.ip})
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
	n.waitLive(t, s.ID)
	return p
}

// A tip: bounded per country, paid through Checkout, shown on every open event stream of
// the stream once (however often Stripe delivers its webhook) and only after it, booked
// with the country's fee and waiver, and refunded on the ledger.
func TestTipShowsOnceAfterItsWebhook(t *testing.T) {
	parallelWait(t)
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
	poll.Holds(t, time.Second, "no tip shown before its payment", func() error {
		return poll.Want(len(viewerPage.of("tip")) == 0, "%+v", viewerPage.of("tip"))
	})

	done := completedSession(co, "pi_tip_1")
	delivered := time.Now()
	for i := 0; i < 3; i++ { // Stripe retries: the same event three times
		n.deliver("evt_tip_1", "checkout.session.completed", done)
	}
	n.deliver("evt_tip_1_async", "checkout.session.async_payment_succeeded", done) // and a second event for the same payment
	poll.Until(t, 5*time.Second, "the tip on the viewer's page", func() error { return poll.Want(len(viewerPage.of("tip")) > 0, "%d so far", len(viewerPage.of("tip"))) })
	poll.Until(t, 5*time.Second, "the tip in the studio", func() error { return poll.Want(len(studio.of("tip")) > 0, "%d so far", len(studio.of("tip"))) })
	t.Logf("tip on the viewer's page %v after its webhook", viewerPage.of("tip")[0].at.Sub(delivered).Round(time.Millisecond))
	poll.Holds(t, 1500*time.Millisecond, "one tip each, however often it was paid", func() error { // a duplicate would come by then
		return poll.Want(len(viewerPage.of("tip")) <= 1 && len(studio.of("tip")) <= 1, "viewer page %d, studio %d",
			len(viewerPage.of("tip")), len(studio.of("tip")))
	})
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
			tip.Message != "Mabrouk! 🎉" || tip.ViewerID != "" || strings.Contains(tips[0].data, tipper.id) || tips[0].id == "" {
			t.Errorf("%s tip event %+v (%v)", name, tips[0], err)
		}
	}
	var list struct {
		Tips []map[string]any `json:"tips"`
	}
	if st := n.call("GET", "/v1/streams/"+s.ID+"/tips", nil, &list); st != 200 || len(list.Tips) != 1 {
		t.Fatalf("tips list: %d %+v", st, list)
	}
	// Nobody's user id on a public list: anyone may read it.
	if r := n.raw("GET", "/v1/streams/"+s.ID+"/tips", "", "", nil); r.status != 200 || strings.Contains(r.body, tipper.id) || strings.Contains(r.body, "viewer_id") {
		t.Errorf("the public tips list names the tipper: %s", r.body)
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
	poll.Until(t, 5*time.Second, "the second tip", func() error { return poll.Want(len(viewerPage.of("tip")) == 2, "%d so far", len(viewerPage.of("tip"))) })

	// The creator's earnings count tips as income, not as refunds.
	var earned struct {
		Earnings []struct {
			Sales, Tips         int
			Gross, Refunds, Net int64
		}
	}
	n.call("GET", "/v1/creators/"+creator+"/earnings", nil, &earned)
	if len(earned.Earnings) != 1 || earned.Earnings[0].Tips != 2 || earned.Earnings[0].Gross != 7000 || earned.Earnings[0].Refunds != 0 || earned.Earnings[0].Net != 6700 {
		t.Fatalf("earnings %+v, want 2 tips, MAD 70.00 gross, 67.00 net", earned)
	}
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
// test sees what livegate asked Stripe to do. While stall is set, it takes requests and
// answers none, as an API that hangs does (held counts them).
type stripeRecorder struct {
	URL   string
	mu    sync.Mutex
	calls []stripeCall
	stall atomic.Bool
	held  atomic.Int64
}

func recordStripe(t *testing.T) *stripeRecorder {
	t.Helper()
	target, err := url.Parse(testenv.StripeMockURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := &stripeRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec.stall.Load() {
			rec.held.Add(1)
			select {
			case <-r.Context().Done():
			case <-done:
			}
			return
		}
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		rec.mu.Lock()
		rec.calls = append(rec.calls, stripeCall{r.Method, r.URL.Path, form})
		rec.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // runs first: no stalled handler holds Close up
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
	// A gift checkout answers the same whether its recipient holds a ticket or not: it
	// does not tell who holds one.
	other := n.buyer("viewer-other", testenv.IPMorocco)
	for _, to := range []string{friend.id, "viewer-nobody"} {
		if r := other.postJSON("/v1/streams/"+s.ID+"/checkout", map[string]any{"recipient_id": to}); r.status != 201 {
			t.Errorf("a gift checkout to %s: %d %s, want 201 whoever the recipient is", to, r.status, r.body)
		}
	}
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
	// The waiver runs past the first month.
	n.setCountry("ZA", map[string]any{"fee_waived_until": time.Now().AddDate(0, 0, 40).UTC()})
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
	if upd := rec.to("POST", "/v1/subscriptions/sub_waived"); len(upd) != 0 {
		t.Fatalf("the fee changed at Stripe while the waiver covers the next renewal: %+v", upd)
	}

	// The operator ends the waiver early; the next renewal is announced.
	ends := time.Now().Add(time.Second).UTC()
	n.setCountry("ZA", map[string]any{"fee_waived_until": ends})
	time.Sleep(time.Until(ends) + 100*time.Millisecond) // about time: past the waiver
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
	// An invoice event that leaves the fee out is booked at the percent Stripe was given.
	n.deliver("evt_renewal_2", "invoice.paid", invoice("in_renewal_2", 0, nil))
	fees := map[string]int64{}
	for _, l := range n.ledger(c.ID) {
		fees[l.StripeObject] = l.Fee
	}
	if fees["in_first"] != 0 || fees["in_renewal"] != 2000 || fees["in_renewal_2"] != 2000 {
		t.Fatalf("ledger fees %v, want none in the waiver and ZAR 20.00 on each renewal after it", fees)
	}
	// The fee changed once at Stripe: the draft, the renewals and a duplicate event change
	// nothing more.
	n.deliver("evt_upcoming", "invoice.upcoming", invoice("", 0, map[string]any{"next_payment_attempt": time.Now().Add(72 * time.Hour).Unix()}))
	if upd := rec.to("POST", "/v1/subscriptions/sub_waived"); len(upd) != 1 {
		t.Errorf("%d subscription fee updates at Stripe, want 1", len(upd))
	}
}

// hookReceiver is the embedding platform's webhook endpoint: it verifies each event's
// signature as the platform would, fails the first attempt of each event of failType
// with a 500, and keeps what it accepted.
type hookReceiver struct {
	srv      *httptest.Server
	failType string
	mu       sync.Mutex
	secret   string
	attempts map[string]int // by event id
	accepted []notify.Envelope
	rejected int
}

func newHookReceiver(t *testing.T, failType string) *hookReceiver {
	h := &hookReceiver{failType: failType, attempts: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := notify.Verify(body, r.Header.Get(notify.SignatureHeader), h.secret, 5*time.Minute, time.Now()); err != nil {
			h.rejected++
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var ev notify.Envelope
		if err := json.Unmarshal(body, &ev); err != nil || ev.ID != r.Header.Get("Livegate-Event-Id") {
			h.rejected++
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		h.attempts[ev.ID]++
		if ev.Type == h.failType && h.attempts[ev.ID] == 1 {
			http.Error(w, "platform hiccup", http.StatusInternalServerError)
			return
		}
		h.accepted = append(h.accepted, ev)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// subscribe registers h at n as the platform's endpoint for eventTypes and keeps the
// signing secret n gives it.
func (h *hookReceiver) subscribe(t *testing.T, n *testNode, eventTypes ...string) {
	t.Helper()
	var ep struct{ Secret string }
	if st := n.call("POST", "/v1/admin/webhooks/endpoints", map[string]any{"url": h.srv.URL, "event_types": eventTypes}, &ep); st != 201 {
		t.Fatalf("webhook endpoint: %d", st)
	}
	h.mu.Lock()
	h.secret = ep.Secret
	h.mu.Unlock()
}

func (h *hookReceiver) of(typ string) []notify.Envelope {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []notify.Envelope
	for _, e := range h.accepted {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// Webhooks out: every kind of event reaches the platform's endpoint signed, an attempt
// answered 500 is retried, deliveries are listed with their attempts, and an operator
// replays one.
func TestWebhooksOutSignedRetriedReplayable(t *testing.T) {
	n := startAccessNode(t, nil)
	n.launchCountries()
	n.setCountry("MA", map[string]any{"min_tip": 1000, "max_tip": 50000})
	recv := newHookReceiver(t, notify.EntitlementGranted)

	expectProblem(t, "a relative URL", n.raw("POST", "/v1/admin/webhooks/endpoints", "application/json", mustJSON(map[string]any{"url": "/hooks"}), n.operator()), 422, "invalid-field")
	expectProblem(t, "an unknown event type", n.raw("POST", "/v1/admin/webhooks/endpoints", "application/json",
		mustJSON(map[string]any{"url": recv.srv.URL, "event_types": []string{"payment.made"}}), n.operator()), 422, "invalid-field")
	var ep struct{ ID, URL, Secret string }
	if st := n.call("POST", "/v1/admin/webhooks/endpoints", map[string]any{"url": recv.srv.URL}, &ep); st != 201 || !strings.HasPrefix(ep.Secret, "lgwhsec_") {
		t.Fatalf("add endpoint: %d %+v", st, ep)
	}
	recv.mu.Lock()
	recv.secret = ep.Secret
	recv.mu.Unlock()
	var listed struct{ Endpoints []map[string]any }
	if n.call("GET", "/v1/admin/webhooks/endpoints", nil, &listed); len(listed.Endpoints) != 1 || listed.Endpoints[0]["secret"] != nil {
		t.Fatalf("endpoints list %+v: one endpoint, no secret shown again", listed)
	}

	creator, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	goLive(t, n, s)
	amina := n.buyer("viewer-amina", testenv.IPMorocco)
	amina.buyTicket(s.ID)
	g := amina.mustAccess(s.ID)
	v := mustWatchToken(t, n, s, g.PlaybackToken)
	v.waitPackets(t, "video", 10, 10*time.Second)
	r := amina.postJSON("/v1/streams/"+s.ID+"/tips", map[string]any{"amount": 3000, "message": "shukran"})
	var tip checkoutInfo
	_ = json.Unmarshal([]byte(r.body), &tip)
	stored, _ := n.Store.Checkout(t.Context(), tip.ID)
	tip.SessionID = stored.StripeSessionID
	n.deliver("evt_tip", "checkout.session.completed", completedSession(tip, "pi_tip"))
	n.deliver("evt_refund", "charge.refunded", refundedCharge("pi_"+amina.id, 4900, true))
	v.waitClosed(t, 5*time.Second)
	if st := n.call("DELETE", "/v1/streams/"+s.ID, nil, nil); st != 200 {
		t.Fatalf("end stream: %d", st)
	}

	for _, typ := range notify.Types {
		poll.Until(t, 15*time.Second, "a "+typ+" event at the platform", func() error { return poll.Want(len(recv.of(typ)) > 0, "none yet") })
	}
	data := func(typ string) map[string]any {
		var m map[string]any
		_ = json.Unmarshal(recv.of(typ)[0].Data, &m)
		return m
	}
	if d := data(notify.EntitlementGranted); d["viewer_id"] != amina.id || d["stream_id"] != s.ID || d["kind"] != "ticket" {
		t.Errorf("entitlement.granted %v", d)
	}
	if d := data(notify.EntitlementRevoked); d["viewer_id"] != amina.id || d["reason"] != "refunded" {
		t.Errorf("entitlement.revoked %v", d)
	}
	if d := data(notify.TipReceived); d["amount"] != float64(3000) || d["message"] != "shukran" || d["creator_id"] != creator {
		t.Errorf("tip.received %v", d)
	}
	if d := data(notify.SessionStarted); d["session_id"] != g.SessionID || d["viewer_id"] != amina.id {
		t.Errorf("session.started %v (session %s)", d, g.SessionID)
	}
	if d := data(notify.SessionEnded); d["session_id"] != g.SessionID || !strings.Contains(fmt.Sprint(d["reason"]), "revoked") {
		t.Errorf("session.ended %v", d)
	}
	if d := data(notify.StreamEnded); d["stream_id"] != s.ID {
		t.Errorf("stream.ended %v", d)
	}
	recv.mu.Lock()
	rejected := recv.rejected
	recv.mu.Unlock()
	if rejected != 0 {
		t.Errorf("%d deliveries failed the platform's signature check", rejected)
	}

	// The 500 was retried: one delivery, two attempts, delivered.
	var ds struct {
		Deliveries []struct {
			ID, State, EventID string
			EventType          string `json:"event_type"`
			Attempts           int
			LastStatus         int `json:"last_status"`
		}
	}
	n.call("GET", "/v1/admin/webhooks/deliveries?event_type="+notify.EntitlementGranted, nil, &ds)
	if len(ds.Deliveries) != 1 || ds.Deliveries[0].Attempts != 2 || ds.Deliveries[0].State != "delivered" || ds.Deliveries[0].LastStatus != 204 {
		t.Fatalf("entitlement.granted deliveries %+v, want one delivered on its second attempt", ds)
	}
	n.call("GET", "/v1/admin/webhooks/deliveries?state=pending", nil, &ds)
	if len(ds.Deliveries) != 0 {
		t.Errorf("deliveries still pending: %+v", ds.Deliveries)
	}

	// An operator replays stream.live: the platform gets the same event again.
	n.call("GET", "/v1/admin/webhooks/deliveries?event_type="+notify.StreamLive, nil, &ds)
	if len(ds.Deliveries) != 1 {
		t.Fatalf("stream.live deliveries %+v", ds)
	}
	var one map[string]any
	if st := n.call("GET", "/v1/admin/webhooks/deliveries/"+ds.Deliveries[0].ID, nil, &one); st != 200 || one["payload"] == nil {
		t.Fatalf("delivery: %d %v", st, one)
	}
	var replay struct{ ID, EventID string }
	if st := n.call("POST", "/v1/admin/webhooks/deliveries/"+ds.Deliveries[0].ID+"/replay", nil, &replay); st != 202 || replay.ID == ds.Deliveries[0].ID {
		t.Fatalf("replay: %d %+v", st, replay)
	}
	poll.Until(t, 5*time.Second, "the replayed stream.live", func() error {
		return poll.Want(len(recv.of(notify.StreamLive)) == 2, "%d so far", len(recv.of(notify.StreamLive)))
	})
	if got := recv.of(notify.StreamLive); got[0].ID != got[1].ID {
		t.Errorf("replay sent event %s, the original was %s", got[1].ID, got[0].ID)
	}
	expectProblem(t, "replaying no delivery", n.raw("POST", "/v1/admin/webhooks/deliveries/whd_nope/replay", "", "", n.operator()), 404, "delivery-not-found")
}

// historySale is one entry of the platform's history before livegate, as the import
// takes it: a sale whose net (85% of gross) is worth usdNetCents at rate, the rate of its
// currency on its day in the table the operator gave.
func historySale(creator, currency, rate string, at time.Time, usdNetCents int64, ref string) map[string]any {
	r, _ := strconv.ParseFloat(rate, 64)
	net := int64(float64(usdNetCents)/r + 0.5)
	gross := net * 100 / 85
	return map[string]any{"id": "hist_" + ref, "kind": "sale", "creator_id": creator, "country": "MA", "currency": currency,
		"gross": gross, "fee": gross - net, "created_at": at}
}

// The operator's growth report over two years of ledger: per creator country and month,
// the creators who earned USD 1,000 and USD 10,000 (net, after refunds) and the change
// from a year before, as JSON and CSV. The history comes in through the ledger import and
// is converted at the rates of its days (the operator's table, the --usd-rates file, or
// an entry's own); a live sale records the rate of its day.
func TestGrowthReportOverTwoYears(t *testing.T) {
	rates := t.TempDir() + "/usd-rates.csv"
	if err := os.WriteFile(rates, []byte("date,currency,usd_per_unit\n2024-01-01,EGP,0.032\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startMoneyNode(t, func(c *config.Config) { c.USDRates = rates })
	n.launchCountries()
	ctx := t.Context()
	if st := n.call("PUT", "/v1/admin/usd-rates", map[string]any{"rates": []map[string]string{
		{"date": "2025-01-01", "currency": "MAD", "usd_per_unit": "0.10"}, {"date": "2026-01-01", "currency": "MAD", "usd_per_unit": "0.11"}}}, nil); st != 200 {
		t.Fatalf("usd rates: %d", st)
	}
	expectProblem(t, "a rate that is not a number", n.raw("PUT", "/v1/admin/usd-rates", "application/json",
		mustJSON(map[string]any{"rates": []map[string]string{{"date": "2026-02-01", "currency": "MAD", "usd_per_unit": "ten"}}}), n.operator()), 422, "invalid-field")
	newCreator := func(country string, i int) string {
		id := fmt.Sprintf("cr_growth_%s_%02d", strings.ToLower(country), i)
		if err := n.Store.CreateCreator(ctx, store.Creator{ID: id, Name: id, Country: country, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	nov25 := time.Date(2025, 11, 10, 12, 0, 0, 0, time.UTC)
	nov26 := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	var history []map[string]any
	add := func(e map[string]any) { history = append(history, e) }
	ma := make([]string, 40)
	for i := range ma {
		ma[i] = newCreator("MA", i)
	}
	// November 2025, Morocco: 17 creators over USD 1,000, 8 of them over USD 10,000.
	for i := 0; i < 17; i++ {
		cents := int64(150_000)
		if i < 8 {
			cents = 1_200_000
		}
		add(historySale(ma[i], "MAD", "0.10", nov25, cents, fmt.Sprintf("25_%d", i)))
	}
	add(historySale(ma[30], "MAD", "0.10", nov25, 90_000, "25_under")) // under USD 1,000
	// November 2026: 33 over USD 1,000, 15 over USD 10,000, with the edges.
	for i := 0; i < 31; i++ {
		cents := int64(250_000)
		if i < 14 {
			cents = 2_000_000
		}
		add(historySale(ma[i], "MAD", "0.11", nov26, cents, fmt.Sprintf("26_%d", i)))
	}
	add(historySale(ma[31], "MAD", "0.11", nov26, 100_000, "26_exact"))                     // exactly USD 1,000.00 counts
	add(historySale(ma[32], "MAD", "0.11", nov26, 600_000, "26_split_a"))                   // two sales in the month
	add(historySale(ma[32], "MAD", "0.11", nov26.AddDate(0, 0, 15), 400_000, "26_split_b")) // ... make USD 10,000
	add(historySale(ma[33], "MAD", "0.11", nov26, 99_999, "26_cent_short"))                 // USD 999.99 does not
	add(historySale(ma[34], "MAD", "0.11", nov26, 120_000, "26_refunded"))                  // refunded below
	refund := historySale(ma[34], "MAD", "0.11", nov26.AddDate(0, 0, 1), 30_000, "26_refund")
	refund["kind"], refund["gross"], refund["fee"] = "refund", -refund["gross"].(int64), -refund["fee"].(int64)
	add(refund)
	add(historySale(ma[35], "MAD", "0.11", time.Date(2026, 10, 31, 23, 59, 0, 0, time.UTC), 500_000, "26_october")) // October, not November
	add(historySale(ma[36], "TND", "1", nov26, 500_000, "26_norate"))                                               // no TND rate anywhere
	add(historySale(ma[37], "EGP", "0.032", time.Date(2026, 9, 5, 0, 0, 0, 0, time.UTC), 150_000, "26_egp"))        // the file's rate
	// South Africa: nobody a year ago, two creators over USD 1,000 now, at the rate their source recorded.
	za := []string{newCreator("ZA", 0), newCreator("ZA", 1)}
	for i, c := range za {
		e := historySale(c, "ZAR", "0.055", nov26, 300_000, fmt.Sprintf("za_%d", i))
		e["usd_rate"] = "0.055"
		add(e)
	}
	var imported struct{ Added, Skipped int }
	if st := n.call("POST", "/v1/admin/ledger/import", map[string]any{"entries": history}, &imported); st != 200 || imported.Added != len(history) {
		t.Fatalf("import: %d %+v, want %d added", st, imported, len(history))
	}
	if st := n.call("POST", "/v1/admin/ledger/import", map[string]any{"entries": history}, &imported); st != 200 || imported.Added != 0 || imported.Skipped != len(history) {
		t.Fatalf("the same import again: %d %+v, want everything skipped", st, imported)
	}
	bad := append([]map[string]any{historySale(ma[0], "MAD", "0.11", nov26, 1, "26_new")}, map[string]any{"id": "x", "kind": "sale",
		"creator_id": "cr_nobody", "currency": "MAD", "gross": 100, "created_at": nov26})
	r := n.raw("POST", "/v1/admin/ledger/import", "application/json", mustJSON(map[string]any{"entries": bad}), n.operator())
	expectProblem(t, "an import naming an unknown creator", r, 422, "invalid-field")
	if !strings.Contains(r.body, "entries[1].creator_id") {
		t.Errorf("the refusal does not name the entry: %s", r.body)
	}

	var rep struct {
		Rows []struct {
			Country, Month string
			C1k            int      `json:"creators_1k"`
			C1kAgo         int      `json:"creators_1k_year_before"`
			YoY1k          *float64 `json:"yoy_1k_percent"`
			C10k           int      `json:"creators_10k"`
			C10kAgo        int      `json:"creators_10k_year_before"`
			YoY10k         *float64 `json:"yoy_10k_percent"`
			Unconverted    int      `json:"unconverted_entries"`
		}
	}
	if st := n.call("GET", "/v1/admin/reports/growth?from=2025-11&to=2026-11", nil, &rep); st != 200 {
		t.Fatalf("growth report: %d", st)
	}
	if len(rep.Rows) != 2*13 {
		t.Fatalf("%d rows, want 13 months for each of 2 countries", len(rep.Rows))
	}
	row := func(country, month string) (r struct {
		C1k, C1kAgo, C10k, C10kAgo int
		YoY1k, YoY10k              *float64
		Unconverted                int
	}) {
		for _, x := range rep.Rows {
			if x.Country == country && x.Month == month {
				r.C1k, r.C1kAgo, r.C10k, r.C10kAgo, r.YoY1k, r.YoY10k, r.Unconverted = x.C1k, x.C1kAgo, x.C10k, x.C10kAgo, x.YoY1k, x.YoY10k, x.Unconverted
				return r
			}
		}
		t.Fatalf("no row for %s %s", country, month)
		return r
	}
	pct := func(p *float64) string {
		if p == nil {
			return "none"
		}
		return strconv.FormatFloat(*p, 'f', 1, 64)
	}
	if r := row("MA", "2026-11"); r.C1k != 33 || r.C1kAgo != 17 || pct(r.YoY1k) != "94.1" || r.C10k != 15 || r.C10kAgo != 8 || pct(r.YoY10k) != "87.5" || r.Unconverted != 1 {
		t.Errorf("Morocco, November 2026: %+v (yoy %s, %s); want 33 vs 17 (+94.1%%) over $1k, 15 vs 8 (+87.5%%) over $10k, 1 unconverted", r, pct(r.YoY1k), pct(r.YoY10k))
	}
	if r := row("MA", "2025-11"); r.C1k != 17 || r.C10k != 8 || r.YoY1k != nil {
		t.Errorf("Morocco, November 2025: %+v", r)
	}
	if r := row("MA", "2026-10"); r.C1k != 1 || r.C10k != 0 {
		t.Errorf("Morocco, October 2026: %+v, want the one sale of October 31st", r)
	}
	if r := row("MA", "2026-09"); r.C1k != 1 {
		t.Errorf("Morocco, September 2026: %+v, want the EGP sale at the file's rate", r)
	}
	if r := row("ZA", "2026-11"); r.C1k != 2 || r.C1kAgo != 0 || r.YoY1k != nil {
		t.Errorf("South Africa, November 2026: %+v, want 2 and no percentage from zero", r)
	}

	// The CSV export says the same.
	csvResp := n.raw("GET", "/v1/admin/reports/growth.csv?from=2026-11&to=2026-11&country=MA", "", "", n.operator())
	recs, err := csv.NewReader(strings.NewReader(csvResp.body)).ReadAll()
	if err != nil || csvResp.status != 200 || !strings.HasPrefix(csvResp.header.Get("Content-Type"), "text/csv") || len(recs) != 2 {
		t.Fatalf("growth CSV: %d %v %q", csvResp.status, err, csvResp.body)
	}
	if got := strings.Join(recs[1], ","); got != "MA,2026-11,33,17,94.1,15,8,87.5,1" {
		t.Errorf("CSV row %q", got)
	}
	expectProblem(t, "a bad month", n.raw("GET", "/v1/admin/reports/growth?from=2026-13", "", "", n.operator()), 422, "invalid-field")
	expectProblem(t, "the report without the operator key", n.raw("GET", "/v1/admin/reports/growth", "", "", nil), 401, "unauthorized")

	// A sale today is booked with today's rate from the table.
	liveCreator, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	b := n.buyer("viewer-usd", testenv.IPMorocco)
	b.buyTicket(s.ID)
	var sale store.LedgerEntry
	for _, l := range n.ledger(liveCreator) {
		sale = l
	}
	// MAD 41.65 net (85% of 49.00) at the operator's 0.11 of 2026: 4.5815 USD, 458 cents.
	if sale.USDRate != "0.11" || sale.USDRateSource != "table" || sale.USDNet != 458 || sale.USDGross != 539 {
		t.Errorf("today's sale in USD: %+v", sale)
	}
}

// In a fleet, a tip paid through one node's webhook reaches the viewers watching on
// another node, once, and the platform hears of it once, whichever nodes send.
func TestTipReachesViewersOnAnotherNode(t *testing.T) {
	shared := accessSettings(t)
	a := startNode(t, chain(shared, func(c *config.Config) { c.NodeID = "node-a" }))
	b := startNode(t, chain(shared, func(c *config.Config) { c.NodeID = "node-b" }))
	a.launchCountries()
	a.setCountry("MA", map[string]any{"min_tip": 1000, "max_tip": 50000})
	recv := newHookReceiver(t, "")
	recv.subscribe(t, a, notify.TipReceived)
	_, s := a.ticketStream("MA", map[string]int64{"MAD": 4900})
	goLive(t, a, s)
	onB := openSSE(t, b.URL()+"/v1/streams/"+s.ID+"/stats/events")
	onA := openSSE(t, a.URL()+"/v1/streams/"+s.ID+"/stats/events")

	tipper := b.buyer("viewer-fleet-tipper", testenv.IPMorocco)
	r := tipper.postJSON("/v1/streams/"+s.ID+"/tips", map[string]any{"amount": 1500, "message": "from node b"})
	var co checkoutInfo
	_ = json.Unmarshal([]byte(r.body), &co)
	stored, err := a.Store.Checkout(t.Context(), co.ID)
	if err != nil || r.status != 201 {
		t.Fatalf("tip on node B: %d %s %v", r.status, r.body, err)
	}
	co.SessionID = stored.StripeSessionID
	done := completedSession(co, "pi_fleet_tip")
	a.deliver("evt_fleet_tip", "checkout.session.completed", done) // Stripe's webhook reaches node A
	b.deliver("evt_fleet_tip", "checkout.session.completed", done) // and again, node B
	poll.Until(t, 5*time.Second, "the tip on node B's event stream", func() error { return poll.Want(len(onB.of("tip")) > 0, "%d so far", len(onB.of("tip"))) })
	poll.Until(t, 5*time.Second, "the tip on node A's event stream", func() error { return poll.Want(len(onA.of("tip")) > 0, "%d so far", len(onA.of("tip"))) })
	poll.Until(t, 5*time.Second, "the tip at the platform", func() error {
		return poll.Want(len(recv.of(notify.TipReceived)) > 0, "%d so far", len(recv.of(notify.TipReceived)))
	})
	poll.Holds(t, 1500*time.Millisecond, "one tip event per stream and one at the platform", func() error { // a duplicate would come by then
		return poll.Want(len(onB.of("tip")) <= 1 && len(recv.of(notify.TipReceived)) <= 1, "node B %d, platform %d",
			len(onB.of("tip")), len(recv.of(notify.TipReceived)))
	})
	if n := len(onB.of("tip")); n != 1 {
		t.Errorf("node B's event stream had %d tip events, want 1", n)
	}
	if n := len(recv.of(notify.TipReceived)); n != 1 {
		t.Errorf("the platform got tip.received %d times from two nodes, want 1", n)
	}
}
