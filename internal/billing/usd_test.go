package billing

import (
	"encoding/json"
	"testing"

	"github.com/stripe/stripe-go/v76"

	"github.com/livegate/livegate/internal/money"
)

// The rate Stripe used is read off the charge's balance transaction, as the API sends it.
func TestRateOfBalanceTransaction(t *testing.T) {
	for _, c := range []struct {
		name, json string
		want       money.Rate
	}{
		{"MAD converted to USD", `{"id":"txn_1","object":"balance_transaction","amount":489,"currency":"usd","exchange_rate":0.0998}`,
			money.Rate{Value: "0.0998", Source: money.SourceStripe}},
		{"settled in EUR", `{"id":"txn_2","object":"balance_transaction","amount":450,"currency":"eur","exchange_rate":0.092}`, money.Rate{}},
		{"no conversion", `{"id":"txn_3","object":"balance_transaction","amount":4900,"currency":"usd","exchange_rate":null}`, money.Rate{}},
	} {
		var bt stripe.BalanceTransaction
		if err := json.Unmarshal([]byte(c.json), &bt); err != nil {
			t.Fatal(err)
		}
		if got := rateOfBalance(&bt); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	if got := rateOfBalance(nil); got != (money.Rate{}) {
		t.Errorf("no balance transaction: %+v", got)
	}
	// The rate converts the sale exactly as a table rate would.
	cents, err := money.ToUSDCents(4900, "MAD", rateOfBalance(&stripe.BalanceTransaction{Currency: "usd", ExchangeRate: 0.0998}).Value)
	if err != nil || cents != 489 {
		t.Errorf("MAD 49.00 at Stripe's rate: %d %v", cents, err)
	}
}
