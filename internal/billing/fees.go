package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/store"
)

// followFee keeps a Connect subscription's platform fee in step with its viewer's
// country. Stripe takes application_fee_percent, set at checkout, on every invoice until
// told otherwise: a subscription sold during a fee waiver would pay no fee forever. So the
// subscription's percent becomes the country's fee at the date of its next charge:
//   - on invoice.upcoming (days before a renewal), at the renewal's date;
//   - on invoice.paid, at the end of the period just paid (the next renewal), so that
//     every renewal sets up the next even when invoice.upcoming is not sent;
//   - on invoice.created (a draft, made with the percent then in force), at the draft's
//     charge, correcting the draft's own fee amount too.
//
// Stripe is called only when the fee changes.
func (s *Service) followFee(ctx context.Context, eventType string, inv stripe.Invoice) (*subscriptionFee, error) {
	if inv.Subscription == nil || inv.Subscription.ID == "" || inv.SubscriptionDetails == nil {
		return nil, nil
	}
	co, err := s.st.Checkout(ctx, inv.SubscriptionDetails.Metadata["livegate_checkout"])
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // not ours
	}
	if err != nil {
		return nil, err
	}
	if co.Payouts != string(countries.PayoutsConnect) {
		return nil, nil // platform charges: the ledger takes the fee of the day at invoice.paid
	}
	pol, err := s.st.CountryPolicy(ctx, co.Country)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	at := nextCharge(eventType, inv)
	bps := FromStore(pol).FeeAt(at)
	sub := inv.Subscription.ID
	current, known, err := s.st.SubscriptionFeeOf(ctx, sub)
	if err != nil {
		return nil, err
	}
	if !known || current != bps {
		sp := &stripe.SubscriptionParams{ApplicationFeePercent: stripe.Float64(float64(bps) / 100)}
		if err := s.stripeCall(ctx, "subscription_fee", &sp.Params, func() error {
			_, err := s.sc.Subscriptions.Update(sub, sp)
			return err
		}); err != nil {
			return nil, fmt.Errorf("set subscription %s fee to %d bps: %w", sub, bps, err)
		}
		s.log.Info("subscription fee follows the country", "subscription", sub, "country", co.Country, "fee_bps", bps,
			"from_bps", current, "next_charge", at.Format(time.RFC3339), "event", eventType)
	}
	if eventType == "invoice.created" && inv.ID != "" && inv.Status == stripe.InvoiceStatusDraft {
		if want := money.Fee(inv.AmountDue, bps); inv.ApplicationFeeAmount != want {
			ip := &stripe.InvoiceParams{ApplicationFeeAmount: stripe.Int64(want)}
			if err := s.stripeCall(ctx, "invoice_fee", &ip.Params, func() error {
				_, err := s.sc.Invoices.Update(inv.ID, ip)
				return err
			}); err != nil {
				return nil, fmt.Errorf("set invoice %s fee: %w", inv.ID, err)
			}
		}
	}
	return &subscriptionFee{subscription: sub, checkout: co.ID, bps: bps}, nil
}

// nextCharge is when the subscription is next charged as the event tells it, never
// before now (a second-precision date may lie just before a waiver's end).
func nextCharge(eventType string, inv stripe.Invoice) time.Time {
	at := time.Now()
	switch eventType {
	case "invoice.paid":
		if end := periodEnd(inv); end.After(at) {
			at = end
		}
	default:
		if r := renewalAt(inv); r.After(at) {
			at = r
		}
	}
	return at
}

// periodEnd is the end of the newest period an invoice pays for.
func periodEnd(inv stripe.Invoice) time.Time {
	end := time.Unix(inv.PeriodEnd, 0)
	if inv.Lines != nil {
		for _, l := range inv.Lines.Data {
			if l.Period != nil && time.Unix(l.Period.End, 0).After(end) {
				end = time.Unix(l.Period.End, 0)
			}
		}
	}
	return end.UTC()
}

// renewalAt is when an upcoming or draft invoice is charged: its next payment attempt,
// else the start of its newest line's period, else now.
func renewalAt(inv stripe.Invoice) time.Time {
	if inv.NextPaymentAttempt > 0 {
		return time.Unix(inv.NextPaymentAttempt, 0)
	}
	var at int64
	if inv.Lines != nil {
		for _, l := range inv.Lines.Data {
			if l.Period != nil && l.Period.Start > at {
				at = l.Period.Start
			}
		}
	}
	if at > 0 {
		return time.Unix(at, 0)
	}
	return time.Now()
}

// feeFollowed records the fee followFee set.
func (h *eventTx) feeFollowed() error {
	if h.pre.fee == nil {
		return nil
	}
	f := h.pre.fee
	return h.tx.SetSubscriptionFee(f.subscription, f.checkout, f.bps, h.now)
}
