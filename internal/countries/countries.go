// Package countries holds the per-country rules of paid live (is it on, since when, in
// which currency, within which prices, for what platform fee, waived until when, paid out
// how) and resolves which country a viewer is in.
package countries

import (
	"fmt"
	"strings"
	"time"

	"github.com/livegate/livegate/internal/money"
)

// Payouts says how a creator in the country is paid.
type Payouts string

const (
	// PayoutsConnect pays creators through Stripe Connect Express destination charges.
	PayoutsConnect Payouts = "connect"
	// PayoutsManual collects on the platform account and records the creator's balance
	// for the operator to pay out from an export (where Connect Express is not
	// self-serve for creators, e.g. Morocco and Egypt).
	PayoutsManual Payouts = "manual"
)

// Policy is paid live's configuration for one country.
type Policy struct {
	Code      string    `json:"code"` // ISO 3166-1 alpha-2, upper case
	Enabled   bool      `json:"enabled"`
	LaunchAt  time.Time `json:"launch_at"` // paid live opens at this instant
	Currency  string    `json:"currency"`  // ISO 4217
	MinTicket int64     `json:"min_ticket"`
	MaxTicket int64     `json:"max_ticket"`
	MinSub    int64     `json:"min_subscription"`
	MaxSub    int64     `json:"max_subscription"`
	// MinTip and MaxTip bound a tip; both zero: tips are not sold in the country.
	MinTip         int64     `json:"min_tip"`
	MaxTip         int64     `json:"max_tip"`
	FeeBPS         int       `json:"fee_bps"`          // platform fee in basis points
	FeeWaivedUntil time.Time `json:"fee_waived_until"` // no fee on sales before this instant
	Payouts        Payouts   `json:"payouts"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// FieldError names the field at fault.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Validate checks a policy as an operator would save it at now. Enabling needs a full
// configuration; a disabled policy may be a draft but must still be consistent.
func (p Policy) Validate(now time.Time) error {
	if !ValidCode(p.Code) {
		return &FieldError{"code", fmt.Sprintf("%q is not an ISO 3166-1 alpha-2 country code", p.Code)}
	}
	if p.FeeBPS < 0 || p.FeeBPS > 10000 {
		return &FieldError{"fee_bps", "must be between 0 and 10000 basis points"}
	}
	if p.Payouts != PayoutsConnect && p.Payouts != PayoutsManual {
		return &FieldError{"payouts", `must be "connect" or "manual"`}
	}
	if p.Currency == "" {
		if p.Enabled {
			return &FieldError{"currency", "is required to enable paid live"}
		}
		return nil
	}
	cur, ok := money.Lookup(p.Currency)
	if !ok || cur.Code != p.Currency {
		return &FieldError{"currency", fmt.Sprintf("%q is not an ISO 4217 currency code (upper case)", p.Currency)}
	}
	bounds := []struct {
		min, max         int64
		minName, maxName string
	}{
		{p.MinTicket, p.MaxTicket, "min_ticket", "max_ticket"},
		{p.MinSub, p.MaxSub, "min_subscription", "max_subscription"},
		{p.MinTip, p.MaxTip, "min_tip", "max_tip"},
	}
	for i, b := range bounds {
		if b.min == 0 && b.max == 0 && (!p.Enabled || i == 2) { // tips are optional
			continue
		}
		if err := cur.CheckAmount(b.min); err != nil {
			return &FieldError{b.minName, err.Error()}
		}
		if err := cur.CheckAmount(b.max); err != nil {
			return &FieldError{b.maxName, err.Error()}
		}
		if b.min > b.max {
			return &FieldError{b.minName, fmt.Sprintf("%s is above %s %s", cur.Format(b.min), b.maxName, cur.Format(b.max))}
		}
	}
	if p.Enabled && p.LaunchAt.IsZero() {
		return &FieldError{"launch_at", "is required to enable paid live"}
	}
	return nil
}

// ValidateEnable adds the checks that only apply when an operator switches a country on:
// a fee waiver that has already ended is almost certainly a typo.
func (p Policy) ValidateEnable(now time.Time) error {
	if err := p.Validate(now); err != nil {
		return err
	}
	if !p.FeeWaivedUntil.IsZero() && p.FeeWaivedUntil.Before(now) {
		return &FieldError{"fee_waived_until", "is in the past; clear it or move it forward before enabling"}
	}
	return nil
}

// Sellable reports whether paid live is open in the country at t.
func (p Policy) Sellable(t time.Time) bool {
	return p.Enabled && !p.LaunchAt.IsZero() && !t.Before(p.LaunchAt)
}

// FeeAt is the fee in basis points on a sale at t: zero while the waiver runs.
func (p Policy) FeeAt(t time.Time) int {
	if !p.FeeWaivedUntil.IsZero() && t.Before(p.FeeWaivedUntil) {
		return 0
	}
	return p.FeeBPS
}

// TicketInBounds says whether a ticket price fits the country.
func (p Policy) TicketInBounds(amount int64) bool {
	return amount >= p.MinTicket && amount <= p.MaxTicket
}

// TipsSold says whether tips are sold in the country.
func (p Policy) TipsSold() bool { return p.MaxTip > 0 }

// TipInBounds says whether a tip fits the country.
func (p Policy) TipInBounds(amount int64) bool { return amount >= p.MinTip && amount <= p.MaxTip }

// SubInBounds says whether a subscription price fits the country.
func (p Policy) SubInBounds(amount int64) bool { return amount >= p.MinSub && amount <= p.MaxSub }

// ValidCode reports whether code is an assigned ISO 3166-1 alpha-2 code (upper case).
func ValidCode(code string) bool {
	if len(code) != 2 || code != strings.ToUpper(code) {
		return false
	}
	for _, c := range strings.Fields(iso3166) {
		if c == code {
			return true
		}
	}
	return false
}

const iso3166 = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ " +
	"BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC " +
	"EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM " +
	"HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI " +
	"LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE " +
	"NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC " +
	"SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW " +
	"TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"
