package money

import (
	"encoding/csv"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strings"
	"time"
)

// Rate is how many US dollars one major unit of a currency was worth, as an exact
// decimal ("0.0998" for MAD), with where it came from.
type Rate struct {
	Value  string // a decimal string, exactly as given
	Source string // "stripe" (a payment's balance transaction), "table" (configured), "identity" (USD)
}

// RateSource values.
const (
	SourceStripe   = "stripe"
	SourceTable    = "table"
	SourceIdentity = "identity"
)

// ParseRate checks that s is a positive decimal.
func ParseRate(s string) (*big.Rat, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok || r.Sign() <= 0 || strings.ContainsAny(s, "/eE") {
		return nil, fmt.Errorf("rate %q is not a positive decimal", s)
	}
	return r, nil
}

// ToUSDCents converts minor units of currency to US cents at rate (USD per major unit),
// rounding half away from zero.
func ToUSDCents(minor int64, currency string, rate string) (int64, error) {
	cur, ok := Lookup(currency)
	if !ok {
		return 0, fmt.Errorf("unknown currency %q", currency)
	}
	r, err := ParseRate(rate)
	if err != nil {
		return 0, err
	}
	// cents = minor / 10^exp * rate * 100
	v := new(big.Rat).Mul(new(big.Rat).SetInt64(minor), r)
	v.Mul(v, big.NewRat(100, 1))
	v.Quo(v, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(cur.Exponent)), nil)))
	num, den := v.Num(), v.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	// |m|*2 >= den rounds away from zero.
	if new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	if !q.IsInt64() {
		return 0, fmt.Errorf("%d %s is out of range in USD", minor, currency)
	}
	return q.Int64(), nil
}

// RateTable is a configured table of USD rates by currency and day: a sale uses the
// latest rate dated on or before its day.
type RateTable struct {
	rates map[string][]datedRate // by currency, oldest first
}

type datedRate struct {
	day   string // YYYY-MM-DD
	value string
}

// NewRateTable returns an empty table.
func NewRateTable() *RateTable { return &RateTable{rates: map[string][]datedRate{}} }

// Add puts a rate in the table, checked as ReadRateTable checks a row.
func (t *RateTable) Add(day, currency, rate string) error {
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return fmt.Errorf("date %q is not YYYY-MM-DD", day)
	}
	if cur, ok := Lookup(currency); !ok || cur.Code != currency {
		return fmt.Errorf("%q is not a currency (ISO 4217, upper case)", currency)
	}
	if _, err := ParseRate(rate); err != nil {
		return err
	}
	rs := t.rates[currency]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].day >= day })
	if i < len(rs) && rs[i].day == day {
		rs[i].value = rate
		return nil
	}
	rs = append(rs, datedRate{})
	copy(rs[i+1:], rs[i:])
	rs[i] = datedRate{day, rate}
	t.rates[currency] = rs
	return nil
}

// ReadRateTable reads CSV rows "date,currency,usd_per_unit" (a header row is allowed),
// e.g. "2026-01-01,MAD,0.0998".
func ReadRateTable(r io.Reader) (*RateTable, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 3
	cr.Comment = '#'
	t := NewRateTable()
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return t, nil
		}
		if err != nil {
			return nil, fmt.Errorf("usd rates: %w", err)
		}
		day, code, value := strings.TrimSpace(rec[0]), strings.ToUpper(strings.TrimSpace(rec[1])), strings.TrimSpace(rec[2])
		if line == 1 && strings.EqualFold(day, "date") {
			continue
		}
		if err := t.Add(day, code, value); err != nil {
			return nil, fmt.Errorf("usd rates line %d: %w", line, err)
		}
	}
}

// At is currency's rate on day t, the latest dated on or before it.
func (t *RateTable) At(currency string, day time.Time) (Rate, bool) {
	if currency == "USD" {
		return Rate{Value: "1", Source: SourceIdentity}, true
	}
	if t == nil {
		return Rate{}, false
	}
	rs := t.rates[currency]
	d := day.UTC().Format(time.DateOnly)
	i := sort.Search(len(rs), func(i int) bool { return rs[i].day > d })
	if i == 0 {
		return Rate{}, false
	}
	return Rate{Value: rs[i-1].value, Source: SourceTable}, true
}
