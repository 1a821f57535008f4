package httpapi

// Creators: profiles, Stripe Connect onboarding, subscription prices, earnings and payouts.

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/store"
)

type creatorJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Country   string    `json:"country,omitempty"`
	Payouts   string    `json:"payouts,omitempty"` // connect or manual
	CreatedAt time.Time `json:"created_at"`
}

func (a *api) createCreator(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name    string `json:"name"`
		Country string `json:"country"`
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 100 {
		invalid(w, r, "name", "name must be 1 to 100 characters")
		return
	}
	if in.Country != "" && !countries.ValidCode(in.Country) {
		invalid(w, r, "country", "country must be an ISO 3166-1 alpha-2 code, e.g. MA")
		return
	}
	c := store.Creator{ID: store.NewID("cr"), Name: in.Name, Country: in.Country, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := a.Store.CreateCreator(r.Context(), c); err != nil {
		a.storeError(w, r, "creator", err)
		return
	}
	writeJSON(w, http.StatusCreated, creatorJSON{c.ID, c.Name, c.Country, string(a.Ledger.PayoutsOf(r.Context(), c)), c.CreatedAt})
}

func (a *api) getCreator(w http.ResponseWriter, r *http.Request) {
	c, err := a.Store.Creator(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.storeError(w, r, "creator", err)
		return
	}
	writeJSON(w, http.StatusOK, creatorJSON{c.ID, c.Name, c.Country, string(a.Ledger.PayoutsOf(r.Context(), c)), c.CreatedAt})
}

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

func (a *api) earnings(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if _, err := a.Store.Creator(r.Context(), id); err != nil {
		a.storeError(w, r, "creator", err)
		return
	}
	rows, err := a.Ledger.Earnings(r.Context(), id)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	bal, err := a.Ledger.ManualBalances(r.Context(), id, "")
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	paid, err := a.Store.Payouts(r.Context(), id)
	if err != nil {
		a.storeError(w, r, "payouts", err)
		return
	}
	type owedJSON struct {
		Currency      string `json:"currency"`
		Sales         int    `json:"sales"`
		Net           int64  `json:"net"`  // earned, net of the fee and refunds
		Paid          int64  `json:"paid"` // transfers the operator recorded
		Owed          int64  `json:"owed"` // net less paid; negative: the creator owes the platform
		Display       string `json:"display"`
		EarnedDisplay string `json:"earned_display"`
		PaidDisplay   string `json:"paid_display"`
	}
	out := []owedJSON{}
	for _, b := range bal {
		cur, _ := money.Lookup(b.Currency)
		out = append(out, owedJSON{b.Currency, b.Sales + b.Tips, b.Earned, b.Paid, b.Owed, cur.Format(b.Owed), cur.Format(b.Earned), cur.Format(b.Paid)})
	}
	// owed is what the operator pays out by hand in manual-payout countries; Connect
	// sales are paid by Stripe and are not in it. payouts are the transfers, newest first.
	writeJSON(w, http.StatusOK, map[string]any{"creator_id": id, "earnings": rows, "owed": out, "payouts": payoutsJSON(paid)})
}

// priceBounds answers GET /v1/pricing: the currencies a creator can price in, with
// the bounds a price must keep.
func (a *api) priceBounds(w http.ResponseWriter, r *http.Request) {
	bs, err := a.Billing.PriceBounds(r.Context())
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	type boundsJSON struct {
		billing.CurrencyBounds
		Display map[string]string `json:"display"`
	}
	out := make([]boundsJSON, 0, len(bs))
	for _, b := range bs {
		cur, _ := money.Lookup(b.Currency)
		out = append(out, boundsJSON{b, map[string]string{"min_ticket": cur.Format(b.MinTicket), "max_ticket": cur.Format(b.MaxTicket),
			"min_subscription": cur.Format(b.MinSub), "max_subscription": cur.Format(b.MaxSub)}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"currencies": out})
}

// Viewers buying.
