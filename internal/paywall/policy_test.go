package paywall_test

import (
	"time"

	"github.com/livegate/livegate/internal/countries"
)

func billingPolicy(now time.Time) countries.Policy {
	return countries.Policy{Code: "MA", Enabled: true, LaunchAt: now.Add(-time.Minute), Currency: "MAD", MinTicket: 1000, MaxTicket: 50000,
		MinSub: 1000, MaxSub: 50000, FeeBPS: 1000, Payouts: countries.PayoutsManual}
}
