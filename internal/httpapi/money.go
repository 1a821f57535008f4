package httpapi

// Money beyond the ticket: gifts and promo codes at checkout, tips during a live stream,
// promo codes, webhooks out and the growth report.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/admission"
	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/notify"
	"github.com/livegate/livegate/internal/store"
)

// viewerCheckout runs the steps every viewer checkout shares: the rate limits, the
// viewer, and the answer; start does the buying.
func (a *api) viewerCheckout(w http.ResponseWriter, r *http.Request, start func(viewer string) (store.Checkout, error)) {
	// Each checkout creates a Stripe Checkout session: limited per client, and per viewer
	// across the fleet.
	if a.limited(w, r, admission.Checkout, a.client(r)) {
		return
	}
	viewer, err := a.Viewers.Viewer(r)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	if a.limited(w, r, admission.CheckoutViewer, viewer) {
		return
	}
	co, err := start(viewer)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, a.checkoutJSON(co))
}

// ticketCheckout buys a ticket: for the caller, or as a gift (recipient_id), with a
// promo code or not. The body is optional.
func (a *api) ticketCheckout(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RecipientID string `json:"recipient_id"`
		PromoCode   string `json:"promo_code"`
	}
	if r.ContentLength != 0 && !a.decodeJSON(w, r, &in) {
		return
	}
	a.viewerCheckout(w, r, func(viewer string) (store.Checkout, error) {
		return a.Billing.BuyTicket(r.Context(), billing.TicketOrder{Viewer: viewer, Stream: chi.URLParam(r, "id"),
			Country: a.Resolver.Country(r), Recipient: strings.TrimSpace(in.RecipientID), PromoCode: strings.TrimSpace(in.PromoCode)})
	})
}

// tipCheckout sends a tip to a live stream's creator.
func (a *api) tipCheckout(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Amount  json.Number `json:"amount"`
		Message string      `json:"message"`
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	amount, err := in.Amount.Int64()
	if err != nil || amount <= 0 {
		invalid(w, r, "amount", "amount is a positive whole number of the currency's minor unit (2000 for MAD 20.00)")
		return
	}
	a.viewerCheckout(w, r, func(viewer string) (store.Checkout, error) {
		return a.Billing.CheckoutTip(r.Context(), billing.TipOrder{Viewer: viewer, Stream: chi.URLParam(r, "id"),
			Country: a.Resolver.Country(r), Amount: amount, Message: in.Message})
	})
}

// streamTips lists a stream's latest paid tips (public, like the stream's stats), and
// while it is live what a tip from the caller's country may be.
func (a *api) streamTips(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	st, err := a.Store.Stream(r.Context(), id)
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	tips, err := a.Store.TipsSince(r.Context(), id, time.Now().Add(-24*time.Hour), 200)
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	out := make([]map[string]any, 0, len(tips))
	for _, t := range tips {
		if !t.Refunded {
			out = append(out, billing.TipJSON(t))
		}
	}
	resp := map[string]any{"tips": out}
	if pol, err := a.Billing.Sellable(r.Context(), a.Resolver.Country(r)); err == nil && pol.TipsSold() && st.State == store.StateLive {
		cur, _ := money.Lookup(pol.Currency)
		resp["tipping"] = map[string]any{"currency": pol.Currency, "exponent": cur.Exponent, "min": pol.MinTip, "max": pol.MaxTip,
			"display_min": cur.Format(pol.MinTip), "display_max": cur.Format(pol.MaxTip)}
	}
	writeJSON(w, http.StatusOK, resp)
}

func promoJSON(p store.PromoCode) map[string]any {
	m := map[string]any{"id": p.ID, "code": p.Code, "creator_id": p.CreatorID, "stream_id": p.StreamID,
		"max_redemptions": p.MaxRedemptions, "reserved": p.Reserved, "redeemed": p.Redeemed, "created_at": p.CreatedAt}
	if p.PercentOff > 0 {
		m["percent_off"] = p.PercentOff
	} else {
		cur, _ := money.Lookup(p.Currency)
		m["amount_off"], m["currency"], m["display"] = p.AmountOff, p.Currency, cur.Format(p.AmountOff)
	}
	if !p.ExpiresAt.IsZero() {
		m["expires_at"] = p.ExpiresAt
	}
	return m
}

// createPromoCode makes a promo code for the creator {id} (the creator or an operator).
func (a *api) createPromoCode(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Code           string     `json:"code"`
		StreamID       string     `json:"stream_id"`
		PercentOff     int        `json:"percent_off"`
		AmountOff      int64      `json:"amount_off"`
		Currency       string     `json:"currency"`
		ExpiresAt      *time.Time `json:"expires_at"`
		MaxRedemptions int        `json:"max_redemptions"`
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	sp := billing.PromoSpec{Code: in.Code, CreatorID: chi.URLParam(r, "id"), StreamID: in.StreamID, PercentOff: in.PercentOff,
		AmountOff: in.AmountOff, Currency: in.Currency, MaxRedemptions: in.MaxRedemptions, Actor: a.actorOf(r)}
	if in.ExpiresAt != nil {
		sp.ExpiresAt = *in.ExpiresAt
	}
	p, err := a.Billing.CreatePromoCode(r.Context(), sp)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, promoJSON(p))
}

func (a *api) listPromoCodes(creator func(*http.Request) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ps, err := a.Billing.PromoCodes(r.Context(), creator(r))
		if err != nil {
			a.moneyError(w, r, err)
			return
		}
		out := jsonEach(ps, promoJSON)
		writeJSON(w, http.StatusOK, map[string]any{"promo_codes": out})
	}
}

// actorOf names the caller for audit: the operator key's name, or the token's subject.
func (a *api) actorOf(r *http.Request) string {
	if p := principalOf(r); p.creator != "" {
		return "creator:" + p.creator
	}
	return actor(r.Context())
}

func endpointJSON(e store.WebhookEndpoint, secret bool) map[string]any {
	types := e.EventTypes
	if types == nil {
		types = []string{}
	}
	m := map[string]any{"id": e.ID, "url": e.URL, "event_types": types, "enabled": e.Enabled, "created_at": e.CreatedAt}
	if secret {
		m["secret"] = e.Secret // shown once, at creation
	}
	return m
}

// createWebhookEndpoint registers a URL of the platform to post events to; the answer
// carries its signing secret, once.
func (a *api) createWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	var in struct {
		URL        string   `json:"url"`
		EventTypes []string `json:"event_types"`
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(in.URL) > 2048 {
		invalid(w, r, "url", "an absolute http or https URL")
		return
	}
	if a.Production && u.Scheme != "https" {
		invalid(w, r, "url", "a production node posts events over https only")
		return
	}
	if err := notify.CheckDestination(r.Context(), u, a.WebhookAllowNetworks); err != nil {
		invalid(w, r, "url", "a destination on the public internet: "+err.Error()+
			" (an operator admits a network of its own with --webhook-allow-networks)")
		return
	}
	for _, t := range in.EventTypes {
		if !notify.KnownType(t) {
			invalid(w, r, "event_types", "unknown event type "+strconv.Quote(t)+"; known: "+strings.Join(notify.Types, ", "))
			return
		}
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	e := store.WebhookEndpoint{ID: store.NewID("we"), URL: in.URL, Secret: "lgwhsec_" + hex.EncodeToString(b), EventTypes: in.EventTypes,
		Enabled: true, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := a.Store.CreateWebhookEndpoint(r.Context(), e); err != nil {
		a.storeError(w, r, "webhook-endpoint", err)
		return
	}
	a.Logger.Info("webhook endpoint added", "endpoint", e.ID, "url", e.URL, "actor", actor(r.Context()))
	writeJSON(w, http.StatusCreated, endpointJSON(e, true))
}

func (a *api) listWebhookEndpoints(w http.ResponseWriter, r *http.Request) {
	eps, err := a.Store.WebhookEndpoints(r.Context())
	if err != nil {
		a.storeError(w, r, "webhook-endpoint", err)
		return
	}
	out := make([]map[string]any, 0, len(eps))
	for _, e := range eps {
		out = append(out, endpointJSON(e, false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": out})
}

func (a *api) deleteWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	if err := a.Store.DeleteWebhookEndpoint(r.Context(), chi.URLParam(r, "id")); err != nil {
		a.storeError(w, r, "webhook-endpoint", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func deliveryJSON(d store.WebhookDelivery) map[string]any {
	m := map[string]any{"id": d.ID, "event_id": d.EventID, "event_type": d.EventType, "endpoint_id": d.EndpointID,
		"endpoint_url": d.EndpointURL, "state": d.State, "attempts": d.Attempts, "last_status": d.LastStatus,
		"last_error": d.LastError, "created_at": d.CreatedAt}
	if d.State == store.DeliveryPending {
		m["next_attempt_at"] = d.NextAttemptAt
	}
	if !d.DeliveredAt.IsZero() {
		m["delivered_at"] = d.DeliveredAt
	}
	return m
}

// listDeliveries lists webhook deliveries, newest first: ?state=, ?event_type=, ?event_id=, ?limit=.
func (a *api) listDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.DeliveryFilter{State: q.Get("state"), EventType: q.Get("event_type"), EventID: q.Get("event_id")}
	switch f.State {
	case "", store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed:
	default:
		invalid(w, r, "state", "pending, delivered or failed")
		return
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			invalid(w, r, "limit", "1 to 1000")
			return
		}
		f.Limit = n
	}
	ds, err := a.Store.Deliveries(r.Context(), f)
	if err != nil {
		a.storeError(w, r, "delivery", err)
		return
	}
	out := jsonEach(ds, deliveryJSON)
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out})
}

// getDelivery shows one delivery with the event's body as it is sent.
func (a *api) getDelivery(w http.ResponseWriter, r *http.Request) {
	d, err := a.Store.Delivery(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.storeError(w, r, "delivery", err)
		return
	}
	ev, err := a.Store.OutboundEvent(r.Context(), d.EventID)
	if err != nil {
		a.storeError(w, r, "delivery", err)
		return
	}
	m := deliveryJSON(d)
	m["payload"] = json.RawMessage(ev.Payload)
	writeJSON(w, http.StatusOK, m)
}

// replayDelivery sends a delivery's event to its endpoint again, as a new delivery.
func (a *api) replayDelivery(w http.ResponseWriter, r *http.Request) {
	d, err := a.Store.ReplayDelivery(r.Context(), chi.URLParam(r, "id"), time.Now())
	if err != nil {
		a.storeError(w, r, "delivery", err)
		return
	}
	if a.WebhooksWake != nil {
		a.WebhooksWake()
	}
	a.Logger.Info("webhook delivery replayed", "delivery", d.ID, "event", d.EventID, "actor", actor(r.Context()))
	writeJSON(w, http.StatusAccepted, deliveryJSON(d))
}

// growthReport is GET /v1/admin/reports/growth?from=YYYY-MM&to=YYYY-MM&country=XX, as
// JSON or (format=csv, or the .csv route) CSV. The default is the last twelve months.
func (a *api) growthReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := time.Now().UTC()
	to, from := now, now.AddDate(0, -11, 0)
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse("2006-01", v)
			if err != nil {
				invalid(w, r, f.name, "a month, YYYY-MM")
				return
			}
			*f.dst = t
		}
	}
	if to.Before(from) || to.Sub(from) > 20*366*24*time.Hour {
		invalid(w, r, "to", "to is a month on or after from, within 20 years")
		return
	}
	country := strings.ToUpper(q.Get("country"))
	rows, err := a.Billing.GrowthReport(r.Context(), from, to, country)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	if q.Get("format") == "csv" || strings.HasSuffix(r.URL.Path, ".csv") {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="livegate-growth.csv"`)
		if err := billing.WriteGrowthCSV(w, rows); err != nil {
			a.Logger.Error("growth csv", "err", err)
		}
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": from.Format("2006-01"), "to": to.Format("2006-01"),
		"thresholds_usd": []int{Growth1kUSD, Growth10kUSD}, "earnings": "net of the platform fee, after refunds, in USD at each sale's rate",
		"rows": rows})
}

// The growth report's thresholds, in dollars, as the report states them.
const (
	Growth1kUSD  = billing.Growth1k / 100
	Growth10kUSD = billing.Growth10k / 100
)

// importLedger adds the platform's ledger history (POST /v1/admin/ledger/import), for
// the growth report's year before livegate.
func (a *api) importLedger(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Entries []billing.ImportEntry `json:"entries"`
	}
	if !a.decodeLarge(w, r, &in, 16<<20) {
		return
	}
	added, skipped, err := a.Billing.ImportLedger(r.Context(), in.Entries)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	a.Logger.Info("ledger imported", "added", added, "skipped", skipped, "actor", actor(r.Context()))
	writeJSON(w, http.StatusOK, map[string]int{"added": added, "skipped": skipped})
}

type usdRateJSON struct {
	Date       string `json:"date"`
	Currency   string `json:"currency"`
	USDPerUnit string `json:"usd_per_unit"`
}

// putUSDRates saves USD rates by currency and day (PUT /v1/admin/usd-rates).
func (a *api) putUSDRates(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Rates []usdRateJSON `json:"rates"`
	}
	if !a.decodeLarge(w, r, &in, 4<<20) {
		return
	}
	rates := make([]store.USDRate, len(in.Rates))
	for i, x := range in.Rates {
		rates[i] = store.USDRate{Currency: strings.ToUpper(x.Currency), Day: x.Date, Rate: x.USDPerUnit}
	}
	converted, err := a.Billing.SetUSDRates(r.Context(), rates, actor(r.Context()))
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	a.Logger.Info("usd rates set", "rates", len(rates), "converted", converted, "actor", actor(r.Context()))
	a.writeUSDRates(w, r, map[string]any{"converted": converted})
}

func (a *api) usdRates(w http.ResponseWriter, r *http.Request) {
	a.writeUSDRates(w, r, map[string]any{})
}

// writeUSDRates answers the configured rates, in body.
func (a *api) writeUSDRates(w http.ResponseWriter, r *http.Request, body map[string]any) {
	rates, err := a.Store.USDRates(r.Context())
	if err != nil {
		a.storeError(w, r, "usd-rates", err)
		return
	}
	out := make([]usdRateJSON, len(rates))
	for i, x := range rates {
		out[i] = usdRateJSON{Date: x.Day, Currency: x.Currency, USDPerUnit: x.Rate}
	}
	body["rates"] = out
	writeJSON(w, http.StatusOK, body)
}
