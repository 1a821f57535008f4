package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/store"
)

type actorKey struct{}

// actor is the operator key's name, for audit logs.
func actor(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok {
		return a
	}
	return "operator"
}

// moneyError maps the money plane's errors to problems.
func (a *api) moneyError(w http.ResponseWriter, r *http.Request, err error) {
	var fe *countries.FieldError
	switch {
	case errors.As(err, &fe):
		invalid(w, r, fe.Field, fe.Error())
	case problem.Answer(w, r, err):
	default:
		a.storeError(w, r, "resource", err)
	}
}

type policyJSON struct {
	countries.Policy
	Display map[string]string `json:"display,omitempty"`
}

func withDisplay(p countries.Policy) policyJSON {
	out := policyJSON{Policy: p}
	if cur, ok := money.Lookup(p.Currency); ok {
		out.Display = map[string]string{"min_ticket": cur.Format(p.MinTicket), "max_ticket": cur.Format(p.MaxTicket),
			"min_subscription": cur.Format(p.MinSub), "max_subscription": cur.Format(p.MaxSub),
			"fee": fmt.Sprintf("%d.%02d%%", p.FeeBPS/100, p.FeeBPS%100)}
	}
	return out
}

func (a *api) listCountries(w http.ResponseWriter, r *http.Request) {
	ps, err := a.Store.ListCountryPolicies(r.Context())
	if err != nil {
		a.storeError(w, r, "country", err)
		return
	}
	out := make([]policyJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, withDisplay(billing.FromStore(p)))
	}
	writeJSON(w, http.StatusOK, map[string]any{"countries": out})
}

func (a *api) countryCode(w http.ResponseWriter, r *http.Request) (string, bool) {
	code := strings.ToUpper(chi.URLParam(r, "code"))
	if !countries.ValidCode(code) {
		problem.WriteDetails(w, r, problem.Details{Type: problem.Type("unknown-country"), Title: "Unknown country",
			Status: http.StatusNotFound, Detail: fmt.Sprintf("%q is not an ISO 3166-1 alpha-2 code", chi.URLParam(r, "code")), Field: "code"})
		return "", false
	}
	return code, true
}

func (a *api) getCountry(w http.ResponseWriter, r *http.Request) {
	code, ok := a.countryCode(w, r)
	if !ok {
		return
	}
	p, err := a.Store.CountryPolicy(r.Context(), code)
	if err != nil {
		a.storeError(w, r, "country", err)
		return
	}
	writeJSON(w, http.StatusOK, withDisplay(billing.FromStore(p)))
}

// currentPolicy is the stored policy, or a disabled draft for a country never configured.
func (a *api) currentPolicy(ctx context.Context, code string) (countries.Policy, error) {
	p, err := a.Store.CountryPolicy(ctx, code)
	if errors.Is(err, store.ErrNotFound) {
		return countries.Policy{Code: code, Payouts: countries.PayoutsConnect}, nil
	}
	return billing.FromStore(p), err
}

// putCountry applies the given fields over the current policy (unset fields keep their
// values), so `livegatectl countries set MA --fee-bps 1000` changes only the fee.
func (a *api) putCountry(w http.ResponseWriter, r *http.Request) {
	code, ok := a.countryCode(w, r)
	if !ok {
		return
	}
	p, err := a.currentPolicy(r.Context(), code)
	if err != nil {
		a.storeError(w, r, "country", err)
		return
	}
	var in struct {
		Enabled        *bool       `json:"enabled"`
		LaunchAt       *time.Time  `json:"launch_at"`
		Currency       *string     `json:"currency"`
		MinTicket      json.Number `json:"min_ticket"`
		MaxTicket      json.Number `json:"max_ticket"`
		MinSub         json.Number `json:"min_subscription"`
		MaxSub         json.Number `json:"max_subscription"`
		FeeBPS         json.Number `json:"fee_bps"`
		FeeWaivedUntil *time.Time  `json:"fee_waived_until"`
		ClearWaiver    bool        `json:"clear_fee_waiver"`
		Payouts        *string     `json:"payouts"`
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	if in.Enabled != nil {
		p.Enabled = *in.Enabled
	}
	if in.LaunchAt != nil {
		p.LaunchAt = in.LaunchAt.UTC()
	}
	if in.Currency != nil {
		p.Currency = *in.Currency
	}
	if in.FeeWaivedUntil != nil {
		p.FeeWaivedUntil = in.FeeWaivedUntil.UTC()
	}
	if in.ClearWaiver {
		p.FeeWaivedUntil = time.Time{}
	}
	if in.Payouts != nil {
		p.Payouts = countries.Payouts(*in.Payouts)
	}
	for _, f := range []struct {
		name string
		num  json.Number
		dst  *int64
	}{{"min_ticket", in.MinTicket, &p.MinTicket}, {"max_ticket", in.MaxTicket, &p.MaxTicket},
		{"min_subscription", in.MinSub, &p.MinSub}, {"max_subscription", in.MaxSub, &p.MaxSub}} {
		if f.num == "" {
			continue
		}
		n, err := f.num.Int64()
		if err != nil {
			cur, _ := money.Lookup(p.Currency)
			detail := "amounts are whole numbers of the currency's minor unit (4900 for MAD 49.00)"
			if cur.Exponent == 0 && cur.Code != "" {
				detail = fmt.Sprintf("%s has no minor unit: amounts are whole %s", cur.Code, cur.Code)
			}
			invalid(w, r, f.name, detail)
			return
		}
		*f.dst = n
	}
	if in.FeeBPS != "" {
		n, err := in.FeeBPS.Int64()
		if err != nil || n < 0 || n > 10000 {
			invalid(w, r, "fee_bps", "fee_bps must be a whole number of basis points from 0 to 10000")
			return
		}
		p.FeeBPS = int(n)
	}
	a.saveCountry(w, r, p)
}

func (a *api) saveCountry(w http.ResponseWriter, r *http.Request, p countries.Policy) {
	saved, err := a.Billing.SetCountry(r.Context(), actor(r.Context()), p)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, withDisplay(saved))
}

func (a *api) enableCountry(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		code, ok := a.countryCode(w, r)
		if !ok {
			return
		}
		p, err := a.currentPolicy(r.Context(), code)
		if err != nil {
			a.storeError(w, r, "country", err)
			return
		}
		p.Enabled = enabled
		a.saveCountry(w, r, p)
	}
}

func (a *api) listAudit(w http.ResponseWriter, r *http.Request) {
	entries, err := a.Store.ListAudit(r.Context(), r.URL.Query().Get("object"), 200)
	if err != nil {
		a.storeError(w, r, "audit", err)
		return
	}
	type entryJSON struct {
		ID     string          `json:"id"`
		Object string          `json:"object"`
		Actor  string          `json:"actor"`
		At     time.Time       `json:"at"`
		Before json.RawMessage `json:"before"`
		After  json.RawMessage `json:"after"`
	}
	out := make([]entryJSON, 0, len(entries))
	for _, e := range entries {
		out = append(out, entryJSON{e.ID, e.Object, e.Actor, e.At, json.RawMessage(e.Before), json.RawMessage(e.After)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"audit": out})
}

func (a *api) manualPayoutsCSV(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="livegate-manual-payouts.csv"`)
	if err := a.Billing.WriteManualBalancesCSV(r.Context(), w); err != nil {
		a.Logger.Error("manual payouts csv", "err", err)
	}
}

func (a *api) mintDevToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ViewerID string `json:"viewer_id"`
		TTL      string `json:"ttl"`
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	if in.ViewerID == "" || len(in.ViewerID) > 200 {
		invalid(w, r, "viewer_id", "viewer_id must be 1 to 200 characters")
		return
	}
	ttl := time.Hour
	if in.TTL != "" {
		d, err := time.ParseDuration(in.TTL)
		if err != nil || d <= 0 || d > 30*24*time.Hour {
			invalid(w, r, "ttl", "ttl must be a duration up to 720h")
			return
		}
		ttl = d
	}
	tok, err := a.Viewers.Mint(in.ViewerID, ttl)
	if err != nil {
		problem.Write(w, r, http.StatusConflict, "cannot-mint", "Cannot mint viewer tokens", err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "viewer_id": in.ViewerID, "expires_at": time.Now().Add(ttl).UTC()})
}

// Creators' money.

func (a *api) connectCreator(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ReturnURL string `json:"return_url"`
	}
	if r.ContentLength != 0 && !a.decodeJSON(w, r, &in) {
		return
	}
	if in.ReturnURL == "" {
		in.ReturnURL = strings.TrimRight(a.PublicURL, "/") + "/studio"
	}
	url, err := a.Billing.Onboard(r.Context(), chi.URLParam(r, "id"), in.ReturnURL)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"onboarding_url": url})
}

func (a *api) putSubscriptionPrice(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Amount json.Number `json:"amount"`
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	amount, err := in.Amount.Int64()
	if err != nil {
		invalid(w, r, "amount", "amount is a whole number of the currency's minor unit")
		return
	}
	p, err := a.Billing.SetSubscriptionPrice(r.Context(), chi.URLParam(r, "id"), strings.ToUpper(chi.URLParam(r, "currency")), amount)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	cur, _ := money.Lookup(p.Currency)
	writeJSON(w, http.StatusOK, map[string]any{"currency": p.Currency, "amount": p.Amount, "display": cur.Format(p.Amount), "interval": "month"})
}

func (a *api) putStreamPrices(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Prices map[string]json.Number `json:"prices"`
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	prices := map[string]int64{}
	for cur, num := range in.Prices {
		n, err := num.Int64()
		if err != nil {
			invalid(w, r, "prices."+cur, "amounts are whole numbers of the currency's minor unit")
			return
		}
		prices[cur] = n
	}
	id := chi.URLParam(r, "id")
	if err := a.Billing.SetStreamPrices(r.Context(), id, prices); err != nil {
		a.moneyError(w, r, err)
		return
	}
	a.streamPrices(w, r)
}

func (a *api) streamPrices(w http.ResponseWriter, r *http.Request) {
	ps, err := a.Store.StreamPrices(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	out := map[string]any{}
	for _, p := range ps {
		cur, _ := money.Lookup(p.Currency)
		out[p.Currency] = map[string]any{"amount": p.Amount, "display": cur.Format(p.Amount)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"prices": out})
}

func (a *api) earnings(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if _, err := a.Store.Creator(r.Context(), id); err != nil {
		a.storeError(w, r, "creator", err)
		return
	}
	rows, err := a.Billing.Earnings(r.Context(), id)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"creator_id": id, "earnings": rows})
}

// Viewers buying.

func (a *api) checkoutJSON(co store.Checkout) map[string]any {
	cur, _ := money.Lookup(co.Currency)
	return map[string]any{"id": co.ID, "kind": co.Kind, "state": co.State, "checkout_url": co.URL, "country": co.Country,
		"currency": co.Currency, "amount": co.Amount, "display": cur.Format(co.Amount), "stream_id": co.StreamID,
		"creator_id": co.CreatorID, "dev_checkout": strings.HasPrefix(co.StripeSessionID, "dev_")}
}

// startCheckout runs one of billing's checkouts for the calling viewer in their country.
func (a *api) startCheckout(start func(ctx context.Context, viewer, id, country string) (store.Checkout, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		viewer, err := a.Viewers.Viewer(r)
		if err != nil {
			a.moneyError(w, r, err)
			return
		}
		co, err := start(r.Context(), viewer, chi.URLParam(r, "id"), a.Resolver.Country(r))
		if err != nil {
			a.moneyError(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, a.checkoutJSON(co))
	}
}

func (a *api) getCheckout(w http.ResponseWriter, r *http.Request) {
	viewer, err := a.Viewers.Viewer(r)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	co, err := a.Store.Checkout(r.Context(), chi.URLParam(r, "id"))
	if err != nil || co.ViewerID != viewer {
		problem.Write(w, r, http.StatusNotFound, "checkout-not-found", "No such checkout", "")
		return
	}
	writeJSON(w, http.StatusOK, a.checkoutJSON(co))
}

// stripeWebhook verifies and applies a Stripe event. A bad signature is the caller's fault
// (400); a failure to apply is ours (500) so that Stripe retries.
func (a *api) stripeWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		problem.Write(w, r, http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large", "")
		return
	}
	err = a.Billing.HandleWebhook(r.Context(), body, r.Header.Get("Stripe-Signature"))
	switch {
	case err != nil && problem.Answer(w, r, err): // a bad signature
	case err != nil:
		a.Logger.Error("webhook", "err", err)
		problem.Write(w, r, http.StatusInternalServerError, "internal", "Internal error", "")
	default:
		writeJSON(w, http.StatusOK, map[string]bool{"received": true})
	}
}

var devCheckoutPage = template.Must(template.New("dev").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>livegate development checkout</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto}.warn{background:#fee;border:1px solid #c00;padding:1rem}</style></head>
<body><p class="warn"><strong>Development checkout.</strong> No money moves. This page exists only because the
server runs without STRIPE_SECRET_KEY; a node started with --production refuses to run this way.</p>
<h1>{{.Title}}</h1><p>Price: <strong>{{.Display}}</strong> ({{.Country}})</p>
{{if eq .State "open"}}<form method="post" action="/dev/checkout/{{.ID}}/pay"><button type="submit">Pay {{.Display}}</button></form>
{{else}}<p>This checkout is {{.State}}.</p>{{end}}</body></html>`))

func (a *api) devCheckout(w http.ResponseWriter, r *http.Request) {
	co, err := a.Store.Checkout(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.storeError(w, r, "checkout", err)
		return
	}
	cur, _ := money.Lookup(co.Currency)
	title := "Ticket"
	if co.Kind == store.KindSubscription {
		title = "Monthly subscription"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = devCheckoutPage.Execute(w, map[string]string{"ID": co.ID, "Title": title, "Display": cur.Format(co.Amount),
		"Country": co.Country, "State": co.State})
}

func (a *api) devPay(w http.ResponseWriter, r *http.Request) {
	if err := a.Billing.CompleteDevCheckout(r.Context(), chi.URLParam(r, "id")); err != nil {
		a.moneyError(w, r, err)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusOK, map[string]string{"state": "completed"})
		return
	}
	http.Redirect(w, r, "/dev/checkout/"+chi.URLParam(r, "id"), http.StatusSeeOther)
}
