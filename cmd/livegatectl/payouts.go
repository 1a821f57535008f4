package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"
)

// cmdPayoutsRecord records a transfer made to a creator paid out manually.
func cmdPayoutsRecord(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	pf := flag.NewFlagSet("payouts record", flag.ContinueOnError)
	pf.SetOutput(errOut)
	ref := pf.String("reference", "", "the transfer's reference (its bank reference), recorded once per creator")
	paidAt := pf.String("paid-at", "", "when the transfer was made (RFC 3339 or YYYY-MM-DD; default now)")
	allowNegative := pf.Bool("allow-negative", false, "record a payout larger than what is owed")
	usage := fmt.Errorf("usage: payouts record <creator-id> <currency> <amount-minor-units> --reference R [--paid-at T] [--allow-negative]")
	if len(rest) < 5 {
		return usage
	}
	if err := pf.Parse(rest[5:]); err != nil || pf.NArg() != 0 || *ref == "" {
		return usage
	}
	amount, err := strconv.ParseInt(rest[4], 10, 64)
	if err != nil {
		return fmt.Errorf("amount: a whole number of the currency's minor unit (150000 for MAD 1,500.00)")
	}
	body := map[string]any{"creator_id": rest[2], "currency": rest[3], "amount": amount, "reference": *ref, "allow_negative": *allowNegative}
	if *paidAt != "" {
		t, err := parseTime(*paidAt)
		if err != nil {
			return fmt.Errorf("--paid-at: %w", err)
		}
		body["paid_at"] = t.Format(time.RFC3339)
	}
	return c.show(ctx, "POST", "/v1/admin/payouts", body, payoutRecorded)
}

// payoutRecorded prints the payout and what the creator is owed after it.
func payoutRecorded(w io.Writer, raw []byte) error {
	var out struct {
		Payout struct {
			ID, Display, Reference string
			PaidAt                 time.Time `json:"paid_at"`
		}
		Balances []struct {
			Balance struct {
				Currency string
				Negative bool
			}
			Display struct{ Earned, Paid, Owed string }
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return err
	}
	fmt.Fprintf(w, "payout %s: %s on %s (reference %s)\n", out.Payout.ID, out.Payout.Display, out.Payout.PaidAt.Format(time.RFC3339), out.Payout.Reference)
	for _, b := range out.Balances {
		note := ""
		if b.Balance.Negative {
			note = "  (negative: the creator owes the platform)"
		}
		fmt.Fprintf(w, "%s: earned %s, paid %s, owed %s%s\n", b.Balance.Currency, b.Display.Earned, b.Display.Paid, b.Display.Owed, note)
	}
	return nil
}

// cmdPayoutsList lists the payouts recorded (to one creator).
func cmdPayoutsList(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	path := "/v1/admin/payouts"
	if len(rest) == 3 {
		path += "?creator_id=" + url.QueryEscape(rest[2])
	}
	return c.show(ctx, "GET", path, nil, listTable("payouts", "PAID AT=paid_at", "CREATOR=creator_id", "AMOUNT=display",
		"REFERENCE=reference", "BY=recorded_by"))
}
