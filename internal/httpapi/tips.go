package httpapi

// Tips: what viewers tipped during a stream.

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/store"
)

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
