package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/store"
)

// MaxImport is the most ledger entries one import takes.
const MaxImport = 20_000

// ImportEntry is one movement of money from the platform's history before livegate: a
// sale, tip, refund or lost dispute of a creator, in minor units of its currency.
type ImportEntry struct {
	ID        string    `json:"id"` // its id where it comes from: importing it again adds nothing
	Kind      string    `json:"kind"`
	CreatorID string    `json:"creator_id"`
	StreamID  string    `json:"stream_id"`
	ViewerID  string    `json:"viewer_id"`
	Country   string    `json:"country"` // the viewer's
	Currency  string    `json:"currency"`
	Gross     int64     `json:"gross"` // negative for refunds and disputes
	Fee       int64     `json:"fee"`   // the platform's share, the same sign as gross
	Payouts   string    `json:"payouts"`
	CreatedAt time.Time `json:"created_at"`
	// USDRate is the entry's rate when its source recorded one; otherwise the configured
	// rates of its day apply.
	USDRate string `json:"usd_rate"`
}

// ImportLedger adds history to the ledger, each entry converted to USD at its own rate
// or the configured rates of its day, so that the growth report can compare a year
// before livegate. Nothing is added if any entry is invalid; entries imported before are
// skipped.
func (s *Books) ImportLedger(ctx context.Context, entries []ImportEntry) (added, skipped int, err error) {
	if len(entries) == 0 || len(entries) > MaxImport {
		return 0, 0, &countries.FieldError{Field: "entries", Reason: fmt.Sprintf("1 to %d entries", MaxImport)}
	}
	creators, err := s.st.CreatorCountries(ctx)
	if err != nil {
		return 0, 0, err
	}
	rates, err := s.configuredRates(ctx)
	if err != nil {
		return 0, 0, err
	}
	now := time.Now()
	out := make([]store.LedgerEntry, 0, len(entries))
	for i, in := range entries {
		bad := func(field, reason string) error {
			return &countries.FieldError{Field: fmt.Sprintf("entries[%d].%s", i, field), Reason: reason}
		}
		cur, ok := money.Lookup(in.Currency)
		negative := in.Kind == store.LedgerRefund || in.Kind == store.LedgerDisputeLost
		switch {
		case in.ID == "" || len(in.ID) > 200:
			return 0, 0, bad("id", "1 to 200 characters")
		case in.Kind != store.LedgerSale && in.Kind != store.LedgerTip && !negative:
			return 0, 0, bad("kind", "sale, tip, refund or dispute_lost")
		case !hasKey(creators, in.CreatorID):
			return 0, 0, bad("creator_id", "no creator with this id")
		case !ok || cur.Code != in.Currency:
			return 0, 0, bad("currency", "an ISO 4217 code, upper case")
		case negative != (in.Gross < 0) || in.Gross == 0:
			return 0, 0, bad("gross", "positive for sales and tips, negative for refunds and disputes")
		case (in.Fee != 0 && (in.Fee < 0) != negative) || abs(in.Fee) > abs(in.Gross):
			return 0, 0, bad("fee", "the same sign as gross, and no more than it")
		case in.CreatedAt.IsZero() || in.CreatedAt.After(now):
			return 0, 0, bad("created_at", "a time in the past")
		}
		e := store.LedgerEntry{ID: store.NewID("led"), Kind: in.Kind, CreatorID: in.CreatorID, StreamID: in.StreamID, ViewerID: in.ViewerID,
			Country: strings.ToUpper(in.Country), Currency: in.Currency, Gross: in.Gross, Fee: in.Fee, Net: in.Gross - in.Fee,
			Payouts: in.Payouts, StripeEventID: "import", StripeObject: "import:" + in.ID, CreatedAt: in.CreatedAt.UTC().Truncate(time.Microsecond)}
		if e.Payouts == "" {
			e.Payouts = "imported"
		}
		r := money.Rate{Value: in.USDRate, Source: "import"}
		if in.USDRate == "" {
			r = rates(in.Currency, e.CreatedAt)
		} else if _, err := money.ParseRate(in.USDRate); err != nil {
			return 0, 0, bad("usd_rate", err.Error())
		}
		if err := s.usd.Convert(&e, r); err != nil {
			return 0, 0, bad("usd_rate", err.Error())
		}
		out = append(out, e)
	}
	added, err = s.st.SeedLedger(ctx, out)
	if err != nil {
		return 0, 0, err
	}
	s.log.Info("ledger history imported", "entries", len(out), "added", added)
	return added, len(out) - added, nil
}

// configuredRates is the rate of the operator's table (the store), else of the
// --usd-rates file, as one lookup.
func (s *Books) configuredRates(ctx context.Context) (func(currency string, t time.Time) money.Rate, error) {
	stored, err := s.st.USDRates(ctx)
	if err != nil {
		return nil, err
	}
	tab := money.NewRateTable()
	for _, r := range stored {
		if err := tab.Add(r.Day, r.Currency, r.Rate); err != nil {
			return nil, fmt.Errorf("stored usd rate %+v: %w", r, err)
		}
	}
	return func(currency string, t time.Time) money.Rate {
		if r, ok := tab.At(currency, t); ok {
			return r
		}
		r, _ := s.cfg.USDRates.At(currency, t)
		return r
	}, nil
}

// SetUSDRates saves an operator's USD rates; sales from then on use them (before the
// --usd-rates file's), and the entries booked without a rate are converted at them
// (ConvertUnconverted). Each rate is checked; none is saved if one is wrong. It reports
// how many entries it converted.
func (s *Books) SetUSDRates(ctx context.Context, rates []store.USDRate, actor string) (int, error) {
	if len(rates) == 0 || len(rates) > MaxImport {
		return 0, &countries.FieldError{Field: "rates", Reason: fmt.Sprintf("1 to %d rates", MaxImport)}
	}
	check := money.NewRateTable()
	for i, r := range rates {
		if err := check.Add(r.Day, r.Currency, r.Rate); err != nil {
			return 0, &countries.FieldError{Field: fmt.Sprintf("rates[%d]", i), Reason: err.Error()}
		}
	}
	if err := s.st.PutUSDRates(ctx, rates); err != nil {
		return 0, err
	}
	var currencies []string
	seen := map[string]bool{}
	for _, r := range rates {
		if !seen[r.Currency] {
			seen[r.Currency] = true
			currencies = append(currencies, r.Currency)
		}
	}
	return s.ConvertUnconverted(ctx, actor, currencies)
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// ConvertUnconverted converts the ledger entries that were booked without a USD rate
// (of currencies; all: none given) at the rates configured now: a sale or tip at its
// day's rate, a refund or dispute at its sale's, or its own day's when its sale has
// none. Each entry is converted once; the batch is audited. It runs when rates are set
// and when a node starts with a rates file, so that sales booked before their currency
// had a rate reach the growth report.
func (s *Books) ConvertUnconverted(ctx context.Context, actor string, currencies []string) (int, error) {
	rows, err := s.st.UnconvertedLedger(ctx, currencies)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	rates, err := s.configuredRates(ctx)
	if err != nil {
		return 0, err
	}
	saleRates := map[string]money.Rate{} // by payment intent, of the sales converted here
	var done []store.LedgerEntry
	for pass := 0; pass < 2; pass++ { // sales first: their refunds take their rate
		for _, e := range rows {
			sale := e.Kind == store.LedgerSale || e.Kind == store.LedgerTip
			if sale != (pass == 0) {
				continue
			}
			r, ok := saleRates[e.PaymentIntent]
			if sale || !ok || e.PaymentIntent == "" {
				r = rates(e.Currency, e.CreatedAt)
			}
			if r.Value == "" {
				continue
			}
			if err := s.usd.Convert(&e, r); err != nil {
				s.log.Warn("convert a ledger entry to USD", "entry", e.ID, "currency", e.Currency, "rate", r.Value, "err", err)
				continue
			}
			if sale && e.PaymentIntent != "" {
				saleRates[e.PaymentIntent] = r
			}
			done = append(done, e)
		}
	}
	if len(done) == 0 {
		return 0, nil
	}
	n, err := s.st.ConvertLedger(ctx, done, func(n int) store.AuditEntry {
		after, _ := json.Marshal(map[string]any{"converted": n, "currencies": currencies, "unconverted_before": len(rows)})
		return store.AuditEntry{ID: store.NewID("aud"), Object: "ledger:usd", Actor: actor, At: time.Now().UTC(), Before: "{}", After: string(after)}
	})
	if err != nil {
		return 0, err
	}
	s.log.Info("ledger entries converted to USD at rates set later", "converted", n, "unconverted_before", len(rows), "actor", actor)
	return n, nil
}
