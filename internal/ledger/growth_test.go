package ledger

import (
	"testing"
	"time"

	"github.com/livegate/livegate/internal/store"
)

func TestGrowthThresholds(t *testing.T) {
	nov := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	lastNov := nov.AddDate(-1, 0, 0)
	entry := func(creator string, at time.Time, usdNet int64) store.LedgerEntry {
		return store.LedgerEntry{CreatorID: creator, CreatedAt: at, USDNet: usdNet, USDRate: "1"}
	}
	unconverted := func(creator string, at time.Time) store.LedgerEntry {
		return store.LedgerEntry{CreatorID: creator, CreatedAt: at, Net: 5_000_00}
	}
	for _, c := range []struct {
		name            string
		led             []store.LedgerEntry
		want1k, want10k int
		unconverted     int
	}{
		{name: "a cent short of 1,000", led: []store.LedgerEntry{entry("a", nov, 999_99)}},
		{name: "exactly 1,000", led: []store.LedgerEntry{entry("a", nov, 1_000_00)}, want1k: 1},
		{name: "a cent short of 10,000", led: []store.LedgerEntry{entry("a", nov, 9_999_99)}, want1k: 1},
		{name: "exactly 10,000 counts in both", led: []store.LedgerEntry{entry("a", nov, 10_000_00)}, want1k: 1, want10k: 1},
		{name: "a month's entries add up", led: []store.LedgerEntry{entry("a", nov, 600_00), entry("a", nov.AddDate(0, 0, 5), 400_00)}, want1k: 1},
		{name: "a refund takes the creator under", led: []store.LedgerEntry{entry("a", nov, 1_000_00), entry("a", nov, -1)}},
		{name: "another month's entries do not count", led: []store.LedgerEntry{entry("a", nov, 600_00), entry("a", nov.AddDate(0, -1, 0), 400_00)}},
		{name: "creators count apart", led: []store.LedgerEntry{entry("a", nov, 600_00), entry("b", nov, 400_00), entry("c", nov, 1_000_00)}, want1k: 1},
		{name: "an entry without a rate is left out and counted", led: []store.LedgerEntry{entry("a", nov, 999_99), unconverted("a", nov)}, unconverted: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			countryOf := map[string]string{"a": "MA", "b": "MA", "c": "MA"}
			rows := growth(c.led, countryOf, monthOf(nov), monthOf(nov), "")
			if len(rows) != 1 {
				t.Fatalf("%d rows, want one (MA, 2026-11): %+v", len(rows), rows)
			}
			r := rows[0]
			if r.Country != "MA" || r.Month != "2026-11" || r.Creators1k != c.want1k || r.Creators10k != c.want10k || r.Unconverted != c.unconverted {
				t.Errorf("got %s %s 1k=%d 10k=%d unconverted=%d, want MA 2026-11 1k=%d 10k=%d unconverted=%d",
					r.Country, r.Month, r.Creators1k, r.Creators10k, r.Unconverted, c.want1k, c.want10k, c.unconverted)
			}
		})
	}

	t.Run("a year before, per country", func(t *testing.T) {
		led := []store.LedgerEntry{
			entry("a", nov, 2_000_00), entry("b", nov, 2_000_00), entry("a", lastNov, 2_000_00),
			entry("z", nov, 20_000_00), entry("z", lastNov, 20_000_00),
		}
		rows := growth(led, map[string]string{"a": "MA", "b": "MA", "z": "ZA"}, monthOf(nov), monthOf(nov), "")
		if len(rows) != 2 || rows[0].Country != "MA" || rows[1].Country != "ZA" {
			t.Fatalf("rows %+v, want MA then ZA", rows)
		}
		if r := rows[0]; r.Creators1k != 2 || r.Creators1kAgo != 1 || r.YoY1k == nil || *r.YoY1k != 100 || r.YoY10k != nil {
			t.Errorf("MA: %+v, want 2 now, 1 a year before, +100%%, no 10k change", r)
		}
		if r := rows[1]; r.Creators10k != 1 || r.Creators10kAgo != 1 || r.YoY10k == nil || *r.YoY10k != 0 {
			t.Errorf("ZA: %+v, want 1 and 1 over 10k, 0%%", r)
		}
		only := growth(led, map[string]string{"a": "MA", "b": "MA", "z": "ZA"}, monthOf(nov), monthOf(nov), "ZA")
		if len(only) != 1 || only[0].Country != "ZA" {
			t.Errorf("narrowed to ZA: %+v", only)
		}
	})
}

func TestYearOverYear(t *testing.T) {
	for _, c := range []struct {
		now, ago int
		want     *float64
	}{
		{now: 5, ago: 0, want: nil}, // growth from nothing has no percentage
		{now: 0, ago: 0, want: nil},
		{now: 2, ago: 1, want: ptr(100)},
		{now: 1, ago: 2, want: ptr(-50)},
		{now: 0, ago: 4, want: ptr(-100)},
		{now: 4, ago: 3, want: ptr(33.3)},
		{now: 5, ago: 3, want: ptr(66.7)},
	} {
		got := yoy(c.now, c.ago)
		if (got == nil) != (c.want == nil) || (got != nil && *got != *c.want) {
			t.Errorf("yoy(%d, %d) = %v, want %v", c.now, c.ago, deref(got), deref(c.want))
		}
	}
}

func ptr(f float64) *float64 { return &f }

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
