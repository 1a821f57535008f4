// Package money knows currencies: their minor units, Stripe's rules for amounts, and how
// to show an amount to a person. Amounts are always int64 minor units; never floats.
package money

import (
	"fmt"
	"strings"
)

// Currency is an ISO 4217 currency as livegate and Stripe use it.
type Currency struct {
	Code string // upper case, e.g. "MAD"
	// Exponent is the number of minor-unit digits Stripe amounts carry: 2 for MAD
	// (4900 = 49.00 MAD), 0 for zero-decimal currencies (500 = 500 JPY).
	Exponent int
	// Multiple is what every amount must be a multiple of (Stripe requires whole units for
	// ISK, HUF and TWD although they are sent with two decimals); 1 otherwise.
	Multiple int64
	// MinCharge is Stripe's smallest charge in minor units, where Stripe publishes one.
	MinCharge int64
}

// zeroDecimal are the currencies Stripe takes in whole units.
const zeroDecimal = "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF"

// threeDecimal are the currencies with three minor digits.
const threeDecimal = "BHD JOD KWD OMR TND"

// iso4217 lists the active currency codes livegate accepts.
const iso4217 = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN " +
	"BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL " +
	"GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW " +
	"KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN " +
	"NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE " +
	"SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST " +
	"XAF XCD XOF XPF YER ZAR ZMW ZWL"

// minCharge is Stripe's published minimum charge in minor units, 0 where it publishes
// none (Stripe then checks the settlement-currency equivalent itself).
func minCharge(code string) int64 {
	switch code {
	case "USD", "EUR", "AUD", "BRL", "CAD", "CHF", "INR", "NZD", "SGD", "JPY":
		return 50
	case "GBP":
		return 30
	case "AED", "MYR", "PLN", "RON":
		return 200
	case "BGN":
		return 100
	case "DKK":
		return 250
	case "NOK", "SEK":
		return 300
	case "HKD":
		return 400
	case "MXN", "THB":
		return 1000
	case "CZK":
		return 1500
	case "HUF":
		return 17500
	}
	return 0
}

// Lookup returns the currency with the given code (any case).
func Lookup(code string) (Currency, bool) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if len(code) != 3 || !isWord(iso4217, code) {
		return Currency{}, false
	}
	c := Currency{Code: code, Exponent: 2, Multiple: 1, MinCharge: minCharge(code)}
	switch {
	case isWord(zeroDecimal, code):
		c.Exponent = 0
	case isWord(threeDecimal, code):
		c.Exponent = 3
	}
	switch code {
	case "ISK", "HUF", "TWD":
		c.Multiple = 100
	case "BHD", "JOD", "KWD", "OMR", "TND":
		c.Multiple = 10 // Stripe wants the last digit zero
	}
	return c, true
}

func isWord(list, code string) bool {
	for _, w := range strings.Fields(list) {
		if w == code {
			return true
		}
	}
	return false
}

// CheckAmount says why an amount cannot be charged in c, or nil.
func (c Currency) CheckAmount(minor int64) error {
	switch {
	case minor <= 0:
		return fmt.Errorf("must be a positive amount of %s minor units", c.Code)
	case minor%c.Multiple != 0:
		return fmt.Errorf("%s amounts must be multiples of %d minor units", c.Code, c.Multiple)
	case c.MinCharge > 0 && minor < c.MinCharge:
		return fmt.Errorf("is below Stripe's minimum charge of %s", c.Format(c.MinCharge))
	case minor > 99_999_999:
		return fmt.Errorf("is above Stripe's maximum charge")
	}
	return nil
}

// Format shows an amount to a person: "MAD 49.00", "JPY 500", "KWD 1.250".
func (c Currency) Format(minor int64) string {
	if c.Exponent == 0 {
		return fmt.Sprintf("%s %d", c.Code, minor)
	}
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	div := int64(1)
	for i := 0; i < c.Exponent; i++ {
		div *= 10
	}
	return fmt.Sprintf("%s %s%d.%0*d", c.Code, sign, minor/div, c.Exponent, minor%div)
}

// Fee is the platform fee on gross at bps basis points, rounded half up to a minor unit.
func Fee(gross int64, bps int) int64 {
	return (gross*int64(bps) + 5000) / 10000
}
