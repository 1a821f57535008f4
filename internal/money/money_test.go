package money

import (
	"strings"
	"testing"
	"time"
)

func TestLookupAndFormat(t *testing.T) {
	cases := []struct {
		code  string
		minor int64
		want  string
	}{
		{"mad", 4900, "MAD 49.00"}, {"ZAR", 12345, "ZAR 123.45"}, {"EGP", 5, "EGP 0.05"},
		{"JPY", 500, "JPY 500"}, {"KWD", 1250, "KWD 1.250"}, {"EUR", -150, "EUR -1.50"},
	}
	for _, c := range cases {
		cur, ok := Lookup(c.code)
		if !ok {
			t.Fatalf("Lookup(%s) failed", c.code)
		}
		if got := cur.Format(c.minor); got != c.want {
			t.Errorf("Format(%s %d) = %s, want %s", c.code, c.minor, got, c.want)
		}
	}
	for _, bad := range []string{"", "XX", "ABC", "US", "USDD", "AD "} {
		if _, ok := Lookup(bad); ok {
			t.Errorf("Lookup(%q) accepted", bad)
		}
	}
}

func TestCheckAmount(t *testing.T) {
	usd, _ := Lookup("USD")
	huf, _ := Lookup("HUF")
	mad, _ := Lookup("MAD")
	for _, c := range []struct {
		cur   Currency
		minor int64
		ok    bool
	}{
		{usd, 500, true}, {usd, 49, false}, {usd, 0, false}, {usd, -1, false},
		{huf, 20000, true}, {huf, 20050, false}, {mad, 1, true}, {mad, 100_000_000, false},
	} {
		if err := c.cur.CheckAmount(c.minor); (err == nil) != c.ok {
			t.Errorf("%s %d: %v", c.cur.Code, c.minor, err)
		}
	}
}

func TestFee(t *testing.T) {
	for _, c := range []struct {
		gross int64
		bps   int
		want  int64
	}{{10000, 1000, 1000}, {999, 1000, 100}, {994, 1000, 99}, {5000, 0, 0}, {333, 10000, 333}, {1, 5000, 1}} {
		if got := Fee(c.gross, c.bps); got != c.want {
			t.Errorf("Fee(%d, %d) = %d, want %d", c.gross, c.bps, got, c.want)
		}
	}
}

func TestToUSDCents(t *testing.T) {
	for _, c := range []struct {
		minor    int64
		currency string
		rate     string
		want     int64
	}{
		{4900, "MAD", "0.0998", 489},   // 49.00 MAD * 0.0998 = 4.8902 USD
		{-4900, "MAD", "0.0998", -489}, // refunds round the same way
		{1000, "JPY", "0.0067", 670},   // zero-decimal: 1000 JPY = 6.70 USD
		{1000, "KWD", "3.25", 325},     // three decimals: 1.000 KWD
		{150, "ZAR", "0.0550", 8},      // 0.0825 rounds to 8
		{100000, "USD", "1", 100000},   // identity
		{5, "EGP", "0.02", 0},          // 0.001 cents rounds to 0
		{25, "EGP", "0.02", 1},         // 0.5 cents rounds away from zero
	} {
		got, err := ToUSDCents(c.minor, c.currency, c.rate)
		if err != nil || got != c.want {
			t.Errorf("ToUSDCents(%d %s at %s) = %d, %v; want %d", c.minor, c.currency, c.rate, got, err, c.want)
		}
	}
	if _, err := ToUSDCents(100, "MAD", "-1"); err == nil {
		t.Error("a negative rate was accepted")
	}
}

func TestRateTable(t *testing.T) {
	tab, err := ReadRateTable(strings.NewReader("date,currency,usd_per_unit\n2025-01-01,MAD,0.10\n2026-01-01,MAD,0.11\n2025-06-01,ZAR,0.055\n"))
	if err != nil {
		t.Fatal(err)
	}
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	for _, c := range []struct {
		cur, day, want string
		ok             bool
	}{
		{"MAD", "2024-12-31", "", false}, {"MAD", "2025-01-01", "0.10", true}, {"MAD", "2025-12-31", "0.10", true},
		{"MAD", "2026-03-01", "0.11", true}, {"ZAR", "2025-07-01", "0.055", true}, {"EGP", "2026-01-01", "", false},
		{"USD", "2020-01-01", "1", true},
	} {
		r, ok := tab.At(c.cur, day(c.day))
		if ok != c.ok || r.Value != c.want {
			t.Errorf("At(%s, %s) = %v %v, want %q %v", c.cur, c.day, r, ok, c.want, c.ok)
		}
	}
	for _, bad := range []string{"2026-01-01,MAD,abc\n", "01/01/2026,MAD,0.1\n", "2026-01-01,XXX,0.1\n", "2026-01-01,MAD\n"} {
		if _, err := ReadRateTable(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// An amount's minor units mean different things per currency: a wrong exponent charges
// a hundred times too much or too little.
func TestExponentsAndMultiples(t *testing.T) {
	for _, c := range []struct {
		code     string
		exponent int
		multiple int64
	}{
		{"USD", 2, 1}, {"MAD", 2, 1}, {"ZAR", 2, 1}, {"EGP", 2, 1}, {"EUR", 2, 1},
		{"JPY", 0, 1}, {"KRW", 0, 1}, {"XOF", 0, 1}, {"VND", 0, 1},
		{"KWD", 3, 10}, {"BHD", 3, 10}, {"JOD", 3, 10}, {"OMR", 3, 10}, {"TND", 3, 10},
		{"HUF", 2, 100}, {"ISK", 2, 100}, {"TWD", 2, 100},
	} {
		cur, ok := Lookup(c.code)
		if !ok {
			t.Errorf("Lookup(%s) failed", c.code)
			continue
		}
		if cur.Exponent != c.exponent || cur.Multiple != c.multiple {
			t.Errorf("%s: exponent %d multiple %d, want %d and %d", c.code, cur.Exponent, cur.Multiple, c.exponent, c.multiple)
		}
	}
}
