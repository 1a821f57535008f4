package money

import "testing"

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
