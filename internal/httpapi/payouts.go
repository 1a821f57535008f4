package httpapi

// Manual payouts: the operator's statement of what each creator paid by hand is owed,
// the transfers recorded against it, and the creator's view of what was paid and when.

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/ledger"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/store"
)

func payoutJSON(p store.Payout) map[string]any {
	cur, _ := money.Lookup(p.Currency)
	return map[string]any{"id": p.ID, "creator_id": p.CreatorID, "currency": p.Currency, "amount": p.Amount,
		"display": cur.Format(p.Amount), "reference": p.Reference, "paid_at": p.PaidAt, "recorded_by": p.RecordedBy, "created_at": p.CreatedAt}
}

// payoutsJSON are payouts newest first (they are stored oldest first).
func payoutsJSON(ps []store.Payout) []map[string]any {
	out := make([]map[string]any, 0, len(ps))
	for i := len(ps) - 1; i >= 0; i-- {
		out = append(out, payoutJSON(ps[i]))
	}
	return out
}

func balancesJSON(bs []ledger.Balance) []map[string]any {
	out := make([]map[string]any, 0, len(bs))
	for _, b := range bs {
		cur, _ := money.Lookup(b.Currency)
		out = append(out, map[string]any{"balance": b, "display": map[string]string{"earned": cur.Format(b.Earned),
			"paid": cur.Format(b.Paid), "owed": cur.Format(b.Owed), "net": cur.Format(b.Net)}})
	}
	return out
}

// recordPayout answers POST /v1/admin/payouts: a transfer the operator made.
func (a *api) recordPayout(w http.ResponseWriter, r *http.Request) {
	var in struct {
		CreatorID     string    `json:"creator_id"`
		Currency      string    `json:"currency"`
		Amount        int64     `json:"amount"`
		Reference     string    `json:"reference"`
		PaidAt        time.Time `json:"paid_at"`
		AllowNegative bool      `json:"allow_negative"`
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	p, created, err := a.Ledger.RecordPayout(r.Context(), ledger.PayoutSpec{Creator: strings.TrimSpace(in.CreatorID), Currency: in.Currency,
		Amount: in.Amount, Reference: in.Reference, PaidAt: in.PaidAt, AllowNegative: in.AllowNegative, Actor: actor(r.Context())})
	if errors.Is(err, store.ErrNotFound) {
		a.storeError(w, r, "creator", err)
		return
	}
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	bal, err := a.Ledger.ManualBalances(r.Context(), p.CreatorID, "")
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK // the same reference again: recorded once
	}
	writeJSON(w, status, map[string]any{"payout": payoutJSON(p), "balances": balancesJSON(bal)})
}

// listPayouts answers GET /v1/admin/payouts[?creator_id=].
func (a *api) listPayouts(w http.ResponseWriter, r *http.Request) {
	a.writePayouts(w, r, r.URL.Query().Get("creator_id"), false)
}

// creatorPayouts answers GET /v1/creators/{id}/payouts: what the creator was paid and
// when, and what is owed now.
func (a *api) creatorPayouts(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if _, err := a.Store.Creator(r.Context(), id); err != nil {
		a.storeError(w, r, "creator", err)
		return
	}
	a.writePayouts(w, r, id, true)
}

// writePayouts answers the payouts to a creator ("": all), newest first, and with
// balances what the creator is owed now.
func (a *api) writePayouts(w http.ResponseWriter, r *http.Request, creatorID string, balances bool) {
	ps, err := a.Store.Payouts(r.Context(), creatorID)
	if err != nil {
		a.storeError(w, r, "payouts", err)
		return
	}
	resp := map[string]any{"payouts": payoutsJSON(ps)}
	if balances {
		bal, err := a.Ledger.ManualBalances(r.Context(), creatorID, "")
		if err != nil {
			a.moneyError(w, r, err)
			return
		}
		resp["creator_id"], resp["balances"] = creatorID, balancesJSON(bal)
	}
	writeJSON(w, http.StatusOK, resp)
}

// manualBalances answers GET /v1/admin/payouts/manual[?period=YYYY-MM]: the statement.
func (a *api) manualBalances(w http.ResponseWriter, r *http.Request) {
	bal, err := a.Ledger.ManualBalances(r.Context(), "", r.URL.Query().Get("period"))
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"balances": balancesJSON(bal)})
}

// manualPayoutsCSV answers GET /v1/admin/payouts/manual.csv[?period=YYYY-MM]: the
// statement as a spreadsheet opens it.
func (a *api) manualPayoutsCSV(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	period := r.URL.Query().Get("period")
	if err := a.Ledger.WriteManualBalancesCSV(r.Context(), &b, period); err != nil {
		a.moneyError(w, r, err)
		return
	}
	name := "livegate-manual-payouts.csv"
	if period != "" {
		name = "livegate-manual-payouts-" + period + ".csv"
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_, _ = w.Write(b.Bytes())
}
