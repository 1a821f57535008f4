package httpapi

// Countries: the operator's switches for paid live, audited.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

type policyJSON struct {
	countries.Policy
	Display map[string]string `json:"display,omitempty"`
}

func withDisplay(p countries.Policy) policyJSON {
	out := policyJSON{Policy: p}
	if cur, ok := money.Lookup(p.Currency); ok {
		out.Display = map[string]string{"min_ticket": cur.Format(p.MinTicket), "max_ticket": cur.Format(p.MaxTicket),
			"min_subscription": cur.Format(p.MinSub), "max_subscription": cur.Format(p.MaxSub),
			"min_tip": cur.Format(p.MinTip), "max_tip": cur.Format(p.MaxTip),
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
		problem.Answer(w, r, errUnknownCountry.Field("code", fmt.Sprintf("%q is not an ISO 3166-1 alpha-2 code", chi.URLParam(r, "code"))))
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
		MinTip         json.Number `json:"min_tip"`
		MaxTip         json.Number `json:"max_tip"`
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
		{"min_subscription", in.MinSub, &p.MinSub}, {"max_subscription", in.MaxSub, &p.MaxSub},
		{"min_tip", in.MinTip, &p.MinTip}, {"max_tip", in.MaxTip, &p.MaxTip}} {
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
