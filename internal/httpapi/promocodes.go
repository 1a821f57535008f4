package httpapi

// Promo codes: a creator's or an operator's discounts at checkout.

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/store"
)

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
