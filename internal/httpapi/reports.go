package httpapi

// Reports and their inputs: the growth report, a ledger imported from Stripe, USD rates.

import (
	"net/http"
	"strings"
	"time"

	"github.com/livegate/livegate/internal/ledger"
	"github.com/livegate/livegate/internal/store"
)

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
	rows, err := a.Ledger.GrowthReport(r.Context(), from, to, country)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	if q.Get("format") == "csv" || strings.HasSuffix(r.URL.Path, ".csv") {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="livegate-growth.csv"`)
		if err := ledger.WriteGrowthCSV(w, rows); err != nil {
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
	Growth1kUSD  = ledger.Growth1k / 100
	Growth10kUSD = ledger.Growth10k / 100
)

// importLedger adds the platform's ledger history (POST /v1/admin/ledger/import), for
// the growth report's year before livegate.
func (a *api) importLedger(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Entries []ledger.ImportEntry `json:"entries"`
	}
	if !a.decodeLarge(w, r, &in, 16<<20) {
		return
	}
	added, skipped, err := a.Ledger.ImportLedger(r.Context(), in.Entries)
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
	converted, err := a.Ledger.SetUSDRates(r.Context(), rates, actor(r.Context()))
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
