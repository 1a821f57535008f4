package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/csvout"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/store"
)

// Manual payouts: in countries where Stripe Connect does not pay creators, the operator
// transfers their earnings by hand and records each transfer here. A statement is as of
// a moment (the end of a month, or now): what the creator earned up to then (net of the
// fee, refunds and lost disputes) less what was paid up to then is what is owed. A
// refund after a payout can leave the creator owing the platform: such a balance is
// flagged, never hidden.

// Errors of recording payouts.
var (
	ErrPayoutExceedsBalance = &problem.Error{Status: http.StatusConflict, Type: "payout-exceeds-balance",
		Title: "Payout exceeds what is owed", Msg: "payout exceeds what is owed"}
	ErrConnectPayouts = &problem.Error{Status: http.StatusConflict, Type: "connect-payouts",
		Title: "Creator is paid out by Stripe", Msg: "creator's country pays out through Stripe Connect"}
	ErrPayoutReference = &problem.Error{Status: http.StatusConflict, Type: "payout-reference-taken",
		Title: "Payout reference already recorded", Msg: "payout reference already recorded with other details"}
)

// PayoutSpec is a payout an operator records.
type PayoutSpec struct {
	Creator, Currency, Reference string
	Amount                       int64     // minor units
	PaidAt                       time.Time // zero: now
	// AllowNegative records a payout larger than what is owed (a transfer already made
	// in error, an advance): the balance then shows negative.
	AllowNegative bool
	Actor         string
}

// RecordPayout records a transfer to a creator paid out manually. The same reference
// again for the creator returns the payout recorded first (created false), so a retried
// request records nothing twice.
func (s *Books) RecordPayout(ctx context.Context, sp PayoutSpec) (store.Payout, bool, error) {
	sp.Currency, sp.Reference = strings.ToUpper(strings.TrimSpace(sp.Currency)), strings.TrimSpace(sp.Reference)
	cur, ok := money.Lookup(sp.Currency)
	switch {
	case !ok:
		return store.Payout{}, false, &countries.FieldError{Field: "currency", Reason: "an ISO 4217 currency code Stripe supports"}
	case sp.Amount <= 0:
		return store.Payout{}, false, &countries.FieldError{Field: "amount", Reason: "a positive whole number of the currency's minor unit"}
	case sp.Reference == "" || len(sp.Reference) > 100 || strings.IndexFunc(sp.Reference, unicode.IsControl) >= 0:
		return store.Payout{}, false, &countries.FieldError{Field: "reference", Reason: "the transfer's reference: 1 to 100 characters, no control characters"}
	case !sp.PaidAt.IsZero() && sp.PaidAt.After(time.Now().Add(time.Hour)):
		return store.Payout{}, false, &countries.FieldError{Field: "paid_at", Reason: "when the transfer was made: not in the future"}
	}
	creator, err := s.st.Creator(ctx, sp.Creator)
	if err != nil {
		return store.Payout{}, false, err
	}
	if s.PayoutsOf(ctx, creator) != countries.PayoutsManual {
		return store.Payout{}, false, fmt.Errorf("%w: %s", ErrConnectPayouts, creator.Country)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if sp.PaidAt.IsZero() {
		sp.PaidAt = now
	}
	p := store.Payout{ID: store.NewID("po"), CreatorID: creator.ID, Currency: sp.Currency, Amount: sp.Amount, Reference: sp.Reference,
		PaidAt: sp.PaidAt.UTC().Truncate(time.Microsecond), RecordedBy: sp.Actor, CreatedAt: now}
	bal, err := s.ManualBalances(ctx, creator.ID, "")
	if err != nil {
		return store.Payout{}, false, err
	}
	owed := int64(0)
	for _, b := range bal {
		if b.Currency == p.Currency {
			owed = b.Owed
		}
	}
	if p.Amount > owed && !sp.AllowNegative && !s.alreadyRecorded(ctx, p) {
		return store.Payout{}, false, fmt.Errorf("%w: %s is owed %s, the payout is %s (allow_negative records it anyway)",
			ErrPayoutExceedsBalance, creator.ID, cur.Format(owed), cur.Format(p.Amount))
	}
	after, _ := json.Marshal(map[string]any{"creator_id": p.CreatorID, "currency": p.Currency, "amount": p.Amount,
		"reference": p.Reference, "paid_at": p.PaidAt})
	rec, created, err := s.st.RecordPayout(ctx, p, store.AuditEntry{ID: store.NewID("aud"), Object: "payout:" + p.CreatorID,
		Actor: sp.Actor, At: now, Before: "{}", After: string(after)})
	if err != nil {
		return store.Payout{}, false, err
	}
	if !created && (rec.Amount != p.Amount || rec.Currency != p.Currency) {
		return rec, false, fmt.Errorf("%w: %q was recorded as %s", ErrPayoutReference, p.Reference, cur.Format(rec.Amount)+" "+rec.Currency)
	}
	if created {
		s.log.Info("payout recorded", "payout", rec.ID, "creator", rec.CreatorID, "currency", rec.Currency, "amount", rec.Amount,
			"owed_before", owed, "actor", sp.Actor)
		if owed-rec.Amount < 0 {
			s.log.Warn("payout leaves a negative balance", "creator", rec.CreatorID, "currency", rec.Currency, "balance", owed-rec.Amount)
		}
	}
	return rec, created, nil
}

// alreadyRecorded says whether p's reference is recorded for its creator: a retry, which
// the balance check must not refuse.
func (s *Books) alreadyRecorded(ctx context.Context, p store.Payout) bool {
	paid, err := s.st.Payouts(ctx, p.CreatorID)
	if err != nil {
		return false
	}
	for _, x := range paid {
		if x.Reference == p.Reference {
			return true
		}
	}
	return false
}

// Balance is a manually paid creator's statement in one currency.
type Balance struct {
	CreatorID   string `json:"creator_id"`
	CreatorName string `json:"creator_name"`
	Country     string `json:"country"`
	Currency    string `json:"currency"`
	// Period is the month the statement is for (YYYY-MM), or "all" up to now; the
	// period's own sales, tips, gross, refunds, fee and net come with it.
	Period string `json:"period"`
	Totals
	// Earned and Paid are up to the period's end; Owed is Earned less Paid.
	Earned int64 `json:"earned"`
	Paid   int64 `json:"paid"`
	Owed   int64 `json:"owed"`
	// PaidSince is what was paid after the period's end (a statement settled later).
	PaidSince     int64     `json:"paid_since"`
	LastPaidAt    time.Time `json:"last_paid_at,omitzero"`
	LastReference string    `json:"last_reference,omitempty"`
	// Negative flags a creator who owes the platform (a refund after a payout).
	Negative bool `json:"negative"`
}

// statementPeriod is the month named YYYY-MM as [from, to), or everything up to now.
func statementPeriod(period string, now time.Time) (label string, from, to time.Time, err error) {
	if period == "" || period == "all" {
		return "all", time.Time{}, now, nil
	}
	m, err := time.Parse("2006-01", period)
	if err != nil {
		return "", time.Time{}, time.Time{}, &countries.FieldError{Field: "period", Reason: "a month, YYYY-MM"}
	}
	return period, m, m.AddDate(0, 1, 0), nil
}

// ManualBalances is the statement of each creator paid out manually (one: creatorID),
// per currency, for period (YYYY-MM; "": everything up to now).
func (s *Books) ManualBalances(ctx context.Context, creatorID, period string) ([]Balance, error) {
	label, from, to, err := statementPeriod(period, time.Now())
	if err != nil {
		return nil, err
	}
	var led []store.LedgerEntry
	if creatorID == "" {
		led, err = s.st.ManualLedger(ctx)
	} else {
		led, err = s.st.Ledger(ctx, creatorID)
	}
	if err != nil {
		return nil, err
	}
	paid, err := s.st.Payouts(ctx, creatorID)
	if err != nil {
		return nil, err
	}
	rows := map[string]*Balance{}
	row := func(creator, currency, country string) *Balance {
		k := creator + "|" + currency
		if rows[k] == nil {
			rows[k] = &Balance{CreatorID: creator, Currency: currency, Country: country, Period: label}
		}
		if rows[k].Country == "" {
			rows[k].Country = country
		}
		return rows[k]
	}
	for _, e := range led {
		if e.Payouts != string(countries.PayoutsManual) || !e.CreatedAt.Before(to) {
			continue
		}
		b := row(e.CreatorID, e.Currency, e.Country)
		b.Earned += e.Net
		if !e.CreatedAt.Before(from) {
			b.add(e)
		}
	}
	for _, p := range paid {
		b := row(p.CreatorID, p.Currency, "")
		if p.PaidAt.Before(to) {
			b.Paid += p.Amount
			b.LastPaidAt, b.LastReference = p.PaidAt, p.Reference
		} else {
			b.PaidSince += p.Amount
		}
	}
	out := make([]Balance, 0, len(rows))
	creators := map[string]store.Creator{}
	for _, b := range rows {
		b.Owed = b.Earned - b.Paid
		b.Negative = b.Owed < 0
		c, ok := creators[b.CreatorID]
		if !ok {
			c, _ = s.st.Creator(ctx, b.CreatorID)
			creators[b.CreatorID] = c
		}
		b.CreatorName = c.Name
		if b.Country == "" {
			b.Country = c.Country // paid, nothing sold yet
		}
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatorID != out[j].CreatorID {
			return out[i].CreatorID < out[j].CreatorID
		}
		return out[i].Currency < out[j].Currency
	})
	return out, nil
}

// WriteManualBalancesCSV writes the manual payout statement for period (YYYY-MM; "":
// up to now): one row per creator and currency, cells safe for a spreadsheet.
func (s *Books) WriteManualBalancesCSV(ctx context.Context, w io.Writer, period string) error {
	rows, err := s.ManualBalances(ctx, "", period)
	if err != nil {
		return err
	}
	cw := csvout.NewWriter(w)
	_ = cw.Write([]string{"creator_id", "creator_name", "country", "currency", "period", "sales", "tips", "gross_minor", "refunds_minor",
		"fee_minor", "net_minor", "earned_minor", "paid_minor", "owed_minor", "owed", "paid_since_minor", "last_paid_at", "last_reference", "flag"})
	for _, r := range rows {
		cur, _ := money.Lookup(r.Currency)
		last, flag := "", ""
		if !r.LastPaidAt.IsZero() {
			last = r.LastPaidAt.Format(time.RFC3339)
		}
		if r.Negative {
			flag = "negative: the creator owes the platform"
		}
		i := func(n int64) string { return strconv.FormatInt(n, 10) }
		_ = cw.Write([]string{r.CreatorID, r.CreatorName, r.Country, r.Currency, r.Period, strconv.Itoa(r.Sales), strconv.Itoa(r.Tips),
			i(r.Gross), i(r.Refunds), i(r.Fee), i(r.Net), i(r.Earned), i(r.Paid), i(r.Owed), cur.Format(r.Owed), i(r.PaidSince),
			last, r.LastReference, flag})
	}
	cw.Flush()
	return cw.Error()
}
