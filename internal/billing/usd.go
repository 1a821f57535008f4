package billing

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/store"
)

// prepared is what an event needs from Stripe before its transaction: network calls are
// made first, so a transaction never waits on Stripe, and a failed call leaves the event
// unrecorded for Stripe to deliver again.
type prepared struct {
	// rate converts the event's payment to USD, from its balance transaction.
	rate money.Rate
	// fee is the fee set on a subscription for its coming invoices (feeFollowed).
	fee *subscriptionFee
}

type subscriptionFee struct {
	subscription, checkout string
	bps                    int
}

// prepare makes the Stripe calls an event needs. A redelivery of an applied event calls
// nothing again (ApplyEvent would ignore it anyway).
func (s *Service) prepare(ctx context.Context, eventID, eventType string, raw json.RawMessage) (prepared, error) {
	var pre prepared
	switch eventType {
	case "checkout.session.completed", "checkout.session.async_payment_succeeded", "invoice.paid", "invoice.upcoming", "invoice.created":
	default:
		return pre, nil
	}
	if s.DevMode() {
		return pre, nil
	}
	if seen, err := s.st.EventApplied(ctx, eventID); err == nil && seen {
		return pre, nil
	}
	switch eventType {
	case "checkout.session.completed", "checkout.session.async_payment_succeeded":
		var cs stripe.CheckoutSession
		if json.Unmarshal(raw, &cs) == nil && cs.PaymentIntent != nil && cs.PaymentIntent.ID != "" {
			pre.rate = s.stripeRate(ctx, cs.PaymentIntent.ID)
		}
	case "invoice.paid", "invoice.upcoming", "invoice.created":
		var inv stripe.Invoice
		if err := json.Unmarshal(raw, &inv); err != nil {
			return pre, nil // handle() reports it
		}
		if eventType == "invoice.paid" && inv.PaymentIntent != nil && inv.PaymentIntent.ID != "" {
			pre.rate = s.stripeRate(ctx, inv.PaymentIntent.ID)
		}
		fee, err := s.followFee(ctx, eventType, inv)
		if err != nil && eventType == "invoice.paid" {
			// A paid renewal is booked and extends access whether or not Stripe answers
			// now: the fee for the next charge is set again on invoice.upcoming and
			// invoice.created, which Stripe retries until they succeed.
			s.log.Warn("subscription fee not set at Stripe; the next invoice event sets it", "invoice", inv.ID, "err", err)
			return pre, nil
		}
		if err != nil {
			return pre, err
		}
		pre.fee = fee
	}
	return pre, nil
}

// stripeRate is the USD rate Stripe used for a payment: its charge's balance transaction,
// when the platform settles in USD. A failed lookup falls back to the configured table:
// the sale is booked either way.
func (s *Service) stripeRate(ctx context.Context, pi string) money.Rate {
	p := &stripe.PaymentIntentParams{}
	p.AddExpand("latest_charge.balance_transaction")
	var intent *stripe.PaymentIntent
	if err := s.stripeCall(ctx, "payment_rate", &p.Params, func() (err error) {
		intent, err = s.sc.PaymentIntents.Get(pi, p)
		return err
	}); err != nil {
		s.log.Warn("payment's balance transaction; using the rate table", "payment_intent", pi)
		return money.Rate{}
	}
	if intent.LatestCharge == nil {
		return money.Rate{}
	}
	return rateOfBalance(intent.LatestCharge.BalanceTransaction)
}

// rateOfBalance reads the USD rate off a balance transaction: its exchange rate when the
// charge was converted to USD, 1 when it was charged in USD.
func rateOfBalance(bt *stripe.BalanceTransaction) money.Rate {
	if bt == nil || !strings.EqualFold(string(bt.Currency), "usd") || bt.ExchangeRate <= 0 {
		return money.Rate{}
	}
	return money.Rate{Value: strconv.FormatFloat(bt.ExchangeRate, 'f', -1, 64), Source: money.SourceStripe}
}

// saleRate is the rate of a new sale: Stripe's for this payment, else the tables' for
// the sale's day.
func (h *eventTx) saleRate(e store.LedgerEntry) money.Rate {
	if h.pre.rate.Value != "" {
		return h.pre.rate
	}
	return h.tableRate(e.Currency, e.CreatedAt)
}

// tableRate is the configured rate of currency on day t: an operator's (PUT
// /v1/admin/usd-rates) before the --usd-rates file's.
func (h *eventTx) tableRate(currency string, t time.Time) money.Rate {
	if currency == "USD" {
		return money.Rate{Value: "1", Source: money.SourceIdentity}
	}
	if v, ok, err := h.tx.USDRate(currency, t.UTC().Format(time.DateOnly)); err == nil && ok {
		return money.Rate{Value: v, Source: money.SourceTable}
	}
	r, _ := h.s.cfg.USDRates.At(currency, t)
	return r
}

// saleRateOf is the rate a sale was booked at: its refunds and disputes take it too, so
// that in USD they undo exactly what the sale added.
func saleRateOf(sale store.LedgerEntry) money.Rate {
	return money.Rate{Value: sale.USDRate, Source: sale.USDRateSource}
}

// inUSD fills in e's dollar columns at r (a refund of a sale booked without a rate takes
// the tables' rate of its own day); with no rate they stay empty and the growth report
// counts the row as unconverted.
func (h *eventTx) inUSD(e *store.LedgerEntry, r money.Rate) {
	if r.Value == "" {
		r = h.tableRate(e.Currency, e.CreatedAt)
	}
	if err := h.s.usd.Convert(e, r); err != nil {
		h.s.log.Warn("convert a ledger entry to USD", "currency", e.Currency, "rate", r.Value, "err", err)
	}
}
