package ledger

import (
	"context"
	"io"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/livegate/livegate/internal/csvout"
	"github.com/livegate/livegate/internal/store"
)

// Growth thresholds: what a creator earned in a month, in US cents, net of the platform
// fee and after refunds and lost disputes.
const (
	Growth1k  = 1_000_00
	Growth10k = 10_000_00
)

// GrowthRow is one country's month: how many of its creators earned at least USD 1,000
// and at least USD 10,000, the same counts a year before, and the change in percent (nil
// when there were none a year before: growth from nothing has no percentage).
type GrowthRow struct {
	Country        string   `json:"country"` // the creator's country ("" when unknown)
	Month          string   `json:"month"`   // YYYY-MM, UTC
	Creators1k     int      `json:"creators_1k"`
	Creators1kAgo  int      `json:"creators_1k_year_before"`
	YoY1k          *float64 `json:"yoy_1k_percent"`
	Creators10k    int      `json:"creators_10k"`
	Creators10kAgo int      `json:"creators_10k_year_before"`
	YoY10k         *float64 `json:"yoy_10k_percent"`
	// Unconverted counts the month's ledger entries with no USD rate (left out).
	Unconverted int `json:"unconverted_entries"`
}

func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// GrowthReport counts, per creator country and month from the month of from to the month
// of to (inclusive), the creators who earned the equivalent of USD 1,000 and USD 10,000,
// with the year-over-year change of each count. country narrows it to one country.
func (s *Books) GrowthReport(ctx context.Context, from, to time.Time, country string) ([]GrowthRow, error) {
	first, last := monthOf(from), monthOf(to)
	if last.Before(first) {
		first, last = last, first
	}
	led, err := s.st.LedgerBetween(ctx, first.AddDate(-1, 0, 0), last.AddDate(0, 1, 0))
	if err != nil {
		return nil, err
	}
	countryOf, err := s.st.CreatorCountries(ctx)
	if err != nil {
		return nil, err
	}
	return growth(led, countryOf, first, last, country), nil
}

// growth is the report's rule, apart from where its entries come from: each creator's
// USD net per month against the thresholds, counted per creator country and month from
// first to last, each beside the same month a year before.
func growth(led []store.LedgerEntry, countryOf map[string]string, first, last time.Time, country string) []GrowthRow {
	type cm struct {
		creator string
		month   time.Time
	}
	type key struct {
		country string
		month   time.Time
	}
	earned := map[cm]int64{}
	unconverted := map[key]int{}
	seen := map[string]bool{}
	for _, e := range led {
		c := countryOf[e.CreatorID]
		if country != "" && c != country {
			continue
		}
		m := monthOf(e.CreatedAt)
		seen[c] = true
		if e.USDRate == "" {
			unconverted[key{c, m}]++
			continue
		}
		earned[cm{e.CreatorID, m}] += e.USDNet
	}
	over1k, over10k := map[key]int{}, map[key]int{}
	for k, cents := range earned {
		kk := key{countryOf[k.creator], k.month}
		if cents >= Growth1k {
			over1k[kk]++
		}
		if cents >= Growth10k {
			over10k[kk]++
		}
	}
	countries := make([]string, 0, len(seen))
	for c := range seen {
		countries = append(countries, c)
	}
	sort.Strings(countries)
	out := []GrowthRow{}
	for _, c := range countries {
		for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
			now, ago := key{c, m}, key{c, m.AddDate(-1, 0, 0)}
			out = append(out, GrowthRow{Country: c, Month: m.Format("2006-01"),
				Creators1k: over1k[now], Creators1kAgo: over1k[ago], YoY1k: yoy(over1k[now], over1k[ago]),
				Creators10k: over10k[now], Creators10kAgo: over10k[ago], YoY10k: yoy(over10k[now], over10k[ago]),
				Unconverted: unconverted[now]})
		}
	}
	return out
}

// yoy is the change from ago to now in percent, to one decimal.
func yoy(now, ago int) *float64 {
	if ago == 0 {
		return nil
	}
	p := math.Round(float64(now-ago)/float64(ago)*1000) / 10
	return &p
}

// WriteGrowthCSV writes a growth report as CSV, one row per country and month.
func WriteGrowthCSV(w io.Writer, rows []GrowthRow) error {
	cw := csvout.NewWriter(w)
	pct := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'f', 1, 64)
	}
	_ = cw.Write([]string{"country", "month", "creators_1k", "creators_1k_year_before", "yoy_1k_percent",
		"creators_10k", "creators_10k_year_before", "yoy_10k_percent", "unconverted_entries"})
	for _, r := range rows {
		_ = cw.Write([]string{r.Country, r.Month, strconv.Itoa(r.Creators1k), strconv.Itoa(r.Creators1kAgo), pct(r.YoY1k),
			strconv.Itoa(r.Creators10k), strconv.Itoa(r.Creators10kAgo), pct(r.YoY10k), strconv.Itoa(r.Unconverted)})
	}
	cw.Flush()
	return cw.Error()
}
