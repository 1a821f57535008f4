package ledger

import (
	"context"
	"sort"

	"github.com/livegate/livegate/internal/store"
)

// EarningsRow is a creator's money for one country, currency and month.
type EarningsRow struct {
	CreatorID string `json:"-"`
	Country   string `json:"country"`
	Currency  string `json:"currency"`
	Month     string `json:"month"` // YYYY-MM, UTC
	Totals
}

// Totals add up ledger entries: what the earnings by month and the payout statements
// show.
type Totals struct {
	Sales   int   `json:"sales"`
	Tips    int   `json:"tips"`
	Gross   int64 `json:"gross"`   // sales and tips
	Refunds int64 `json:"refunds"` // refunds and lost disputes, positive
	Fee     int64 `json:"fee"`     // platform fee kept, after refunds
	Net     int64 `json:"net"`     // creator's share, after refunds
}

// add counts one ledger entry.
func (t *Totals) add(e store.LedgerEntry) {
	switch e.Kind {
	case store.LedgerSale:
		t.Sales++
		t.Gross += e.Gross
	case store.LedgerTip:
		t.Tips++
		t.Gross += e.Gross
	default:
		t.Refunds -= e.Gross
	}
	t.Fee += e.Fee
	t.Net += e.Net
}

// Earnings sums a creator's ledger by country, currency and month.
func (s *Books) Earnings(ctx context.Context, creatorID string) ([]EarningsRow, error) {
	led, err := s.st.Ledger(ctx, creatorID)
	if err != nil {
		return nil, err
	}
	return summarize(led, func(e store.LedgerEntry) string {
		return e.Country + "|" + e.Currency + "|" + e.CreatedAt.UTC().Format("2006-01")
	}), nil
}

// summarize adds up ledger entries by key; each row keeps its first entry's creator,
// country, currency and month.
func summarize(led []store.LedgerEntry, key func(store.LedgerEntry) string) []EarningsRow {
	rows := map[string]*EarningsRow{}
	var keys []string
	for _, e := range led {
		k := key(e)
		r := rows[k]
		if r == nil {
			r = &EarningsRow{CreatorID: e.CreatorID, Country: e.Country, Currency: e.Currency, Month: e.CreatedAt.UTC().Format("2006-01")}
			rows[k] = r
			keys = append(keys, k)
		}
		r.add(e)
	}
	sort.Strings(keys)
	out := make([]EarningsRow, 0, len(keys))
	for _, k := range keys {
		out = append(out, *rows[k])
	}
	return out
}
