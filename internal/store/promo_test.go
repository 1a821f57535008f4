package store

import "testing"

// The discount is what a buyer saves, so it is rounded half up like every amount, and a
// code never makes a sale free (Stripe cannot take a zero charge, and a free ticket
// would be a grant nobody paid for).
func TestPromoDiscount(t *testing.T) {
	for _, c := range []struct {
		name string
		code PromoCode
		list int64
		want int64
	}{
		{"10% of MAD 49.00", PromoCode{PercentOff: 10}, 4900, 490},
		{"half a minor unit rounds up", PromoCode{PercentOff: 50}, 99, 50},
		{"under half a minor unit rounds down", PromoCode{PercentOff: 1}, 49, 0},
		{"exactly half rounds up", PromoCode{PercentOff: 1}, 50, 1},
		{"10% of JPY 500 (zero-decimal)", PromoCode{PercentOff: 10}, 500, 50},
		{"15% of KWD 1.250 (three decimals)", PromoCode{PercentOff: 15}, 1250, 188},
		{"99% leaves at least one minor unit", PromoCode{PercentOff: 99}, 100, 99},
		{"100% is capped below the price", PromoCode{PercentOff: 100}, 4900, 4899},
		{"a fixed amount", PromoCode{AmountOff: 1000}, 4900, 1000},
		{"a fixed amount over the price", PromoCode{AmountOff: 10000}, 4900, 4899},
		{"a fixed amount equal to the price", PromoCode{AmountOff: 4900}, 4900, 4899},
		{"a one-unit price cannot be discounted", PromoCode{PercentOff: 50}, 1, 0},
		{"percent wins over a stray amount", PromoCode{PercentOff: 10, AmountOff: 3000}, 4900, 490},
	} {
		if got := c.code.Discount(c.list); got != c.want {
			t.Errorf("%s: Discount(%d) = %d, want %d", c.name, c.list, got, c.want)
		}
	}
}
