package countries

import (
	"errors"
	"testing"
	"time"
)

func valid(now time.Time) Policy {
	return Policy{Code: "MA", Enabled: true, LaunchAt: now, Currency: "MAD", MinTicket: 1000, MaxTicket: 50000,
		MinSub: 2000, MaxSub: 20000, FeeBPS: 2000, FeeWaivedUntil: now.Add(30 * 24 * time.Hour), Payouts: PayoutsManual}
}

func TestValidate(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	if err := valid(now).ValidateEnable(now); err != nil {
		t.Fatalf("valid policy rejected: %v", err)
	}
	cases := map[string]func(*Policy){
		"code":             func(p *Policy) { p.Code = "XX" },
		"fee_bps":          func(p *Policy) { p.FeeBPS = 10001 },
		"currency":         func(p *Policy) { p.Currency = "MADX" },
		"min_ticket":       func(p *Policy) { p.MinTicket = 60000 },
		"max_subscription": func(p *Policy) { p.MaxSub = 0 },
		"payouts":          func(p *Policy) { p.Payouts = "cash" },
		"launch_at":        func(p *Policy) { p.LaunchAt = time.Time{} },
		"fee_waived_until": func(p *Policy) { p.FeeWaivedUntil = now.Add(-time.Hour) },
	}
	for field, mutate := range cases {
		p := valid(now)
		mutate(&p)
		err := p.ValidateEnable(now)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: error %v, want a FieldError on %s", field, err, field)
		}
	}
	jpy := Policy{Code: "JP", Currency: "JPY", MinTicket: 500, MaxTicket: 5000, MinSub: 300, MaxSub: 3000, Payouts: PayoutsConnect, Enabled: true, LaunchAt: now}
	if err := jpy.Validate(now); err != nil {
		t.Fatalf("JPY policy: %v", err)
	}
	draft := Policy{Code: "EG", Payouts: PayoutsManual}
	if err := draft.Validate(now); err != nil {
		t.Fatalf("disabled draft rejected: %v", err)
	}
}

func TestFeeAndLaunch(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	p := valid(now)
	p.LaunchAt = now.Add(time.Hour)
	if p.Sellable(now) || !p.Sellable(now.Add(time.Hour)) {
		t.Fatal("launch_at not honoured")
	}
	if p.FeeAt(now) != 0 || p.FeeAt(p.FeeWaivedUntil) != 2000 {
		t.Fatalf("fee during waiver %d, after %d", p.FeeAt(now), p.FeeAt(p.FeeWaivedUntil))
	}
	p.Enabled = false
	if p.Sellable(now.Add(2 * time.Hour)) {
		t.Fatal("disabled country sellable")
	}
}

// The fee a sale takes is decided at the moment of the sale: nothing while the waiver
// runs (up to, not including, its end), the country's rate from then on.
func TestFeeAtWaiverEdges(t *testing.T) {
	until := time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		waiver time.Time
		at     time.Time
		want   int
	}{
		{"no waiver", time.Time{}, until, 2000},
		{"long before the waiver ends", until, until.AddDate(-1, 0, 0), 0},
		{"a nanosecond before it ends", until, until.Add(-time.Nanosecond), 0},
		{"the moment it ends", until, until, 2000},
		{"after it ended", until, until.Add(time.Hour), 2000},
	} {
		p := Policy{FeeBPS: 2000, FeeWaivedUntil: c.waiver}
		if got := p.FeeAt(c.at); got != c.want {
			t.Errorf("%s: FeeAt = %d bps, want %d", c.name, got, c.want)
		}
	}
}
