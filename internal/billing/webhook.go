package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/notify"
	"github.com/livegate/livegate/internal/store"
)

// eventRevoke is livegate's own event for revoking access at once (a cancelled stream),
// recorded like Stripe's so that it too happens exactly once. Stripe never sends it: its
// ids are ours and it never arrives through the webhook endpoint.
const eventRevoke = "livegate.revoke"

type revokeRequest struct {
	Source string `json:"source"`
	Reason string `json:"reason"`
}

// WebhookTolerance is how old a signed webhook may be.
const WebhookTolerance = 300 * time.Second

// signedAt is the time a Stripe-Signature header says it was made (its t=).
func signedAt(header string) (time.Time, bool) {
	for _, kv := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(kv), "t="); ok {
			sec, err := strconv.ParseInt(v, 10, 64)
			return time.Unix(sec, 0), err == nil
		}
	}
	return time.Time{}, false
}

// HandleWebhook verifies a Stripe webhook and applies it exactly once. The endpoint must
// be created with API version 2023-10-16 (stripe-go v76's); events of another version are
// refused rather than misread.
func (s *Service) HandleWebhook(ctx context.Context, payload []byte, signature string) error {
	if s.cfg.WebhookSecret == "" && s.cfg.ConnectWebhookSecret == "" {
		return fmt.Errorf("%w: no webhook secret configured", ErrBadSignature)
	}
	// Stripe signs the platform endpoint and the Connect endpoint (account.updated of
	// connected accounts) with different secrets; either may deliver here.
	var ev stripe.Event
	err := errors.New("no secret matched")
	for _, secret := range []string{s.cfg.WebhookSecret, s.cfg.ConnectWebhookSecret} {
		if secret == "" {
			continue
		}
		if ev, err = webhook.ConstructEventWithOptions(payload, signature, secret,
			webhook.ConstructEventOptions{Tolerance: WebhookTolerance}); err == nil {
			break
		}
	}
	if err == nil {
		// stripe-go checks only that a signature is not too old: one made for a time far
		// ahead (a leaked secret's, to outlive a rotation) is refused too.
		if at, ok := signedAt(signature); !ok || at.After(time.Now().Add(WebhookTolerance)) {
			err = fmt.Errorf("signed for %v, in the future", at.UTC().Format(time.RFC3339))
		}
	}
	if err != nil {
		s.cfg.Metrics.Webhooks.WithLabelValues("rejected").Inc()
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if ev.Data == nil || strings.HasPrefix(string(ev.Type), "livegate.") {
		return fmt.Errorf("%w: not a Stripe event", ErrBadSignature)
	}
	// What the event needs from Stripe has a budget of its own, so that the answer comes
	// within Stripe's timeout even when the API stalls.
	pctx, cancel := context.WithTimeout(ctx, webhookBudget)
	pre, err := s.prepare(pctx, ev.ID, string(ev.Type), ev.Data.Raw)
	cancel()
	if err != nil {
		// Stripe delivers the event again; nothing of it is recorded yet.
		return fmt.Errorf("prepare %s %s: %w", ev.Type, ev.ID, err)
	}
	return s.apply(ctx, ev.ID, string(ev.Type), ev.Data.Raw, pre)
}

// apply runs one event's effects in the transaction that records it, then tells the
// access plane about revocations.
func (s *Service) apply(ctx context.Context, eventID, eventType string, raw json.RawMessage, pre prepared) error {
	revoked, emitted := 0, 0
	applied, err := s.st.ApplyEvent(ctx, eventID, eventType, func(tx store.BillingTx) error {
		revoked, emitted = 0, 0
		h := &eventTx{s: s, tx: tx, eventID: eventID, now: time.Now().UTC().Truncate(time.Microsecond), revoked: &revoked,
			emitted: &emitted, pre: pre}
		return h.handle(eventType, raw)
	})
	if err != nil {
		s.cfg.Metrics.Webhooks.WithLabelValues("failed").Inc()
		return fmt.Errorf("apply %s %s: %w", eventType, eventID, err)
	}
	if !applied {
		s.cfg.Metrics.Webhooks.WithLabelValues("duplicate").Inc()
		s.log.Info("webhook duplicate ignored", "event", eventID, "type", eventType)
		return nil
	}
	s.cfg.Metrics.Webhooks.WithLabelValues("applied").Inc()
	if revoked > 0 {
		s.wakeOutbox()
	}
	if emitted > 0 && s.cfg.EventsEmitted != nil {
		s.cfg.EventsEmitted()
	}
	return nil
}

type eventTx struct {
	s       *Service
	tx      store.BillingTx
	eventID string
	now     time.Time
	revoked *int // revocations queued by this transaction
	emitted *int // webhooks out queued by this transaction
	pre     prepared
}

// emit queues a webhook out in this transaction: it is sent if and only if the change it
// tells of commits.
func (h *eventTx) emit(typ, key string, data any) error {
	ev, err := notify.NewEvent(typ, key, h.now, data)
	if err != nil {
		return err
	}
	*h.emitted++
	return h.tx.EmitEvent(ev)
}

// entitlementJSON is an entitlement as webhooks out tell of it.
func entitlementJSON(e store.Entitlement, co store.Checkout) map[string]any {
	m := map[string]any{"entitlement_id": e.ID, "viewer_id": e.ViewerID, "kind": e.Kind, "stream_id": e.StreamID,
		"creator_id": e.CreatorID, "state": e.State, "source": e.Source}
	if !e.ExpiresAt.IsZero() {
		m["expires_at"] = e.ExpiresAt
	}
	if e.RevokedReason != "" {
		m["reason"] = e.RevokedReason
	}
	if co.RecipientID != "" {
		m["gifted_by"] = co.ViewerID
	}
	return m
}

func (h *eventTx) handle(eventType string, raw json.RawMessage) error {
	switch eventType {
	case "checkout.session.completed", "checkout.session.async_payment_succeeded":
		var cs stripe.CheckoutSession
		if err := json.Unmarshal(raw, &cs); err != nil {
			return fmt.Errorf("decode session: %w", err)
		}
		if cs.PaymentStatus == stripe.CheckoutSessionPaymentStatusUnpaid {
			return nil // delayed payment method: wait for async_payment_succeeded
		}
		return h.completed(cs)
	case "checkout.session.async_payment_failed", "checkout.session.expired":
		var cs stripe.CheckoutSession
		if err := json.Unmarshal(raw, &cs); err != nil {
			return fmt.Errorf("decode session: %w", err)
		}
		co, ok, err := h.checkoutOf(cs)
		if !ok || err != nil || co.State != "open" {
			return err
		}
		if co.PromoCodeID != "" {
			// Never paid: the code's redemption goes back to the next viewer.
			if err := h.tx.ReleasePromoCode(co.PromoCodeID); err != nil {
				return err
			}
		}
		state := "failed"
		if eventType == "checkout.session.expired" {
			state = "expired"
		}
		return h.tx.SetCheckoutState(co.ID, state)
	case "invoice.upcoming", "invoice.created":
		return h.feeFollowed()
	case "charge.refunded":
		var ch stripe.Charge
		if err := json.Unmarshal(raw, &ch); err != nil {
			return fmt.Errorf("decode charge: %w", err)
		}
		return h.refunded(ch)
	case "charge.dispute.created":
		return nil // funds are held; access stays until the dispute is lost
	case "charge.dispute.closed":
		var d stripe.Dispute
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("decode dispute: %w", err)
		}
		return h.disputeClosed(d)
	case "customer.subscription.updated", "customer.subscription.deleted":
		var sub stripe.Subscription
		if err := json.Unmarshal(raw, &sub); err != nil {
			return fmt.Errorf("decode subscription: %w", err)
		}
		return h.subscriptionChanged(sub, eventType == "customer.subscription.deleted")
	case "invoice.paid":
		var inv stripe.Invoice
		if err := json.Unmarshal(raw, &inv); err != nil {
			return fmt.Errorf("decode invoice: %w", err)
		}
		return h.invoicePaid(inv)
	case "invoice.payment_failed":
		return nil // Stripe retries; the subscription's status change decides access
	case eventRevoke:
		var r revokeRequest
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		return h.revoke(r.Source, r.Reason)
	case "account.updated":
		var a stripe.Account
		if err := json.Unmarshal(raw, &a); err != nil {
			return fmt.Errorf("decode account: %w", err)
		}
		return h.accountUpdated(a)
	}
	return nil
}

func ignoreMissing(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// completed grants what a paid checkout bought and books the sale.
func (h *eventTx) completed(cs stripe.CheckoutSession) error {
	co, ok, err := h.checkoutOf(cs)
	if !ok || err != nil {
		return err
	}
	wasOpen := co.State == "open"
	if err := h.tx.SetCheckoutState(co.ID, "completed"); err != nil {
		return err
	}
	if co.PromoCodeID != "" && wasOpen {
		if err := h.tx.RedeemPromoCode(co.PromoCodeID); err != nil {
			return err
		}
	}
	if co.Kind == store.KindSubscription {
		if cs.Subscription == nil || cs.Subscription.ID == "" {
			return fmt.Errorf("subscription checkout %s completed without a subscription", co.ID)
		}
		// The fee set at checkout, unless an invoice that came first has set it since.
		if _, known, err := h.tx.SubscriptionFee(cs.Subscription.ID); err != nil {
			return err
		} else if !known {
			if err := h.tx.SetSubscriptionFee(cs.Subscription.ID, co.ID, co.FeeBPS, h.now); err != nil {
				return err
			}
		}
		// Two days of access until the first invoice, seconds away, tells the period end.
		_, err := h.grant(co, cs.Subscription.ID, h.now.Add(48*time.Hour))
		return err
	}
	if cs.PaymentIntent == nil || cs.PaymentIntent.ID == "" {
		return fmt.Errorf("checkout %s completed without a payment intent", co.ID)
	}
	pi := cs.PaymentIntent.ID
	if co.Kind == store.KindTip {
		return h.tipPaid(co, cs, pi)
	}
	if _, err := h.grant(co, pi, time.Time{}); err != nil {
		return err
	}
	c := chargedBy(co, cs)
	if c.Currency != co.Currency || c.Gross != co.Amount {
		h.s.log.Info("checkout charged differs from the price offered; booking what Stripe charged",
			"checkout", co.ID, "offered", fmt.Sprintf("%d %s", co.Amount, co.Currency),
			"charged", fmt.Sprintf("%d %s", c.Gross, c.Currency), "fee", c.Fee, "event", h.eventID)
	}
	return h.sale(co, c, pi, pi, pi)
}

// charge is what one payment collected, all in one currency, and what a promo code took
// off it.
type charge struct {
	Currency string
	Gross    int64
	Fee      int64
	Discount int64
}

// chargedBy is what Stripe collected for a completed Checkout session, which is what the
// ledger books, never the price livegate offered: a discount lowers the total, and with
// Adaptive Pricing the viewer paid in another currency. The fee is the one taken in that
// currency. On Connect it is the application fee set at creation, which a discount does
// not change, converted at the session's own rate (amount_total against
// currency_conversion.amount_total) when the currency differs. On manual payouts it is
// livegate's share of what was paid. Never more than was paid.
func chargedBy(co store.Checkout, cs stripe.CheckoutSession) charge {
	c := charge{Currency: strings.ToUpper(string(cs.Currency)), Gross: max(cs.AmountTotal, 0)}
	if c.Currency == "" {
		c.Currency = co.Currency
	}
	conv := cs.CurrencyConversion
	switch {
	case co.Payouts != string(countries.PayoutsConnect):
		c.Fee = money.Fee(c.Gross, co.FeeBPS)
	case c.Currency == co.Currency:
		c.Fee = co.Fee
	case conv != nil && strings.EqualFold(string(conv.SourceCurrency), co.Currency) && conv.AmountTotal > 0:
		c.Fee = (co.Fee*c.Gross + conv.AmountTotal/2) / conv.AmountTotal
	default: // another currency and no rate given: the same share of what was paid
		c.Fee = money.Fee(c.Gross, co.FeeBPS)
	}
	c.Fee = min(max(c.Fee, 0), c.Gross)
	c.Discount = co.Discount
	if cs.TotalDetails != nil && cs.TotalDetails.AmountDiscount > 0 {
		c.Discount = cs.TotalDetails.AmountDiscount
	}
	return c
}

// checkoutOf finds the livegate checkout a Stripe Checkout session completes. Metadata
// alone is not enough (anyone can create a session carrying our metadata on their own
// account's events): the session id, mode and currency must be the ones we created.
func (h *eventTx) checkoutOf(cs stripe.CheckoutSession) (store.Checkout, bool, error) {
	co, err := h.tx.Checkout(cs.Metadata["livegate_checkout"])
	if errors.Is(err, store.ErrNotFound) {
		return co, false, nil // not one of ours
	}
	if err != nil {
		return co, false, err
	}
	wantMode := stripe.CheckoutSessionModePayment
	if co.Kind == store.KindSubscription {
		wantMode = stripe.CheckoutSessionModeSubscription
	}
	switch {
	case cs.ID == "" || cs.ID != co.StripeSessionID:
		h.s.log.Warn("checkout session does not match its checkout; ignored", "checkout", co.ID, "event", h.eventID)
		return co, false, nil
	case cs.Mode != wantMode:
		h.s.log.Warn("checkout session mode does not match; ignored", "checkout", co.ID, "mode", string(cs.Mode), "event", h.eventID)
		return co, false, nil
	}
	// A currency other than the checkout's is not a reason to ignore the payment: Stripe
	// may present the viewer's own currency (Adaptive Pricing). chargedBy books it.
	return co, true, nil
}

// grant gives what co bought to its holder (a gift's recipient) and tells the platform.
func (h *eventTx) grant(co store.Checkout, source string, expires time.Time) (bool, error) {
	e := store.Entitlement{ID: store.NewID("ent"), ViewerID: co.Holder(), Kind: co.Kind, StreamID: co.StreamID, CreatorID: co.CreatorID,
		Source: source, State: store.EntActive, ExpiresAt: expires, CreatedAt: h.now, UpdatedAt: h.now}
	granted, err := h.tx.GrantEntitlement(e)
	if err != nil || !granted {
		return granted, err
	}
	// Keyed by the source, which grants once: when the entitlement was granted before (a
	// subscription's invoice after its checkout), this is that event again, and nothing.
	return true, h.emit(notify.EntitlementGranted, source, entitlementJSON(e, co))
}

// sale books a sale of the access of source (none for a tip) and any refund that
// arrived before it; a refund in full ends that access.
func (h *eventTx) sale(co store.Checkout, c charge, object, pi, source string) error {
	kind := store.LedgerSale
	if co.Kind == store.KindTip {
		kind = store.LedgerTip
	}
	e := store.LedgerEntry{Kind: kind, CreatorID: co.CreatorID, StreamID: co.StreamID, ViewerID: co.ViewerID,
		Country: co.Country, Currency: c.Currency, Gross: c.Gross, Fee: c.Fee, Net: c.Gross - c.Fee, Payouts: co.Payouts,
		StripeEventID: h.eventID, StripeObject: object, PaymentIntent: pi, CreatedAt: h.now, Discount: c.Discount, AccessSource: source}
	h.inUSD(&e, h.saleRate(e))
	if _, err := h.tx.AddLedger(e); err != nil {
		return err
	}
	if pi == "" {
		return nil
	}
	pending, err := h.tx.TakePendingRefunds(pi)
	if err != nil {
		return err
	}
	var most int64
	for _, p := range pending {
		most = max(most, p.Amount) // amounts are cumulative
	}
	if most <= 0 {
		return nil
	}
	if err := h.bookRefund(e, pi, most); err != nil {
		return err
	}
	if most >= e.Gross && source != "" && source != pi {
		// A ticket's placeholder already holds it revoked; a subscription's is its own.
		return h.revoke(source, "refunded")
	}
	return nil
}

// accessOf is the source of the entitlement a sale paid for: rows from before the ledger
// kept it are tickets', whose source is the payment.
func accessOf(sale store.LedgerEntry, pi string) string {
	if sale.AccessSource != "" {
		return sale.AccessSource
	}
	return pi
}

// bookRefund brings the ledger's refunds of a sale up to the cumulative amount refunded.
func (h *eventTx) bookRefund(sale store.LedgerEntry, pi string, cumulative int64) error {
	refunded, disputed, err := h.tx.TakenBack(pi)
	if err != nil {
		return err
	}
	// Never more than the sale has left: a dispute lost on the same charge took its part.
	amount := min(min(cumulative, sale.Gross)-refunded, sale.Gross-refunded-disputed)
	if amount <= 0 {
		return nil
	}
	if err := h.takeBack(sale, store.LedgerRefund, fmt.Sprintf("refund:%s:%d", pi, cumulative), amount); err != nil {
		return err
	}
	if sale.Kind == store.LedgerTip {
		return h.tx.MarkTipRefunded(pi)
	}
	return nil
}

// refunded revokes a fully refunded ticket and books the refund, whether or not the sale
// has been seen yet.
func (h *eventTx) refunded(ch stripe.Charge) error {
	if ch.PaymentIntent == nil || ch.PaymentIntent.ID == "" {
		return nil
	}
	pi := ch.PaymentIntent.ID
	sale, err := h.tx.SaleByPaymentIntent(pi)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Possibly ours and not completed yet: keep the refund for when the sale arrives.
		if err := h.tx.AddPendingRefund(pi, fmt.Sprintf("cum:%d", ch.AmountRefunded), ch.AmountRefunded, h.eventID, h.now); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if err := h.bookRefund(sale, pi, ch.AmountRefunded); err != nil {
			return err
		}
		if sale.Kind == store.LedgerTip {
			return nil // a tip bought no access
		}
		if ch.Refunded {
			return h.revoke(accessOf(sale, pi), "refunded")
		}
		return nil
	}
	if ch.Refunded {
		return h.revoke(pi, "refunded") // a placeholder: the sale, when it comes, grants nothing
	}
	return nil
}

func (h *eventTx) revoke(source, reason string) error {
	e, wasActive, err := h.tx.RevokeEntitlement(source, reason, h.now)
	if err != nil {
		return err
	}
	if !wasActive {
		return nil
	}
	*h.revoked++
	if err := h.tx.QueueRevocation(e.ID, reason, h.now); err != nil {
		return err
	}
	return h.emit(notify.EntitlementRevoked, source, entitlementJSON(e, store.Checkout{}))
}

func (h *eventTx) disputeClosed(d stripe.Dispute) error {
	if d.Status != stripe.DisputeStatusLost || d.PaymentIntent == nil || d.PaymentIntent.ID == "" {
		return nil
	}
	pi := d.PaymentIntent.ID
	sale, err := h.tx.SaleByPaymentIntent(pi)
	if errors.Is(err, store.ErrNotFound) {
		return h.revoke(pi, "dispute lost")
	}
	if err != nil {
		return err
	}
	refunded, disputed, err := h.tx.TakenBack(pi)
	if err != nil {
		return err
	}
	// What is left of the sale: a refund of the same charge (or an earlier dispute) was
	// booked already, and a charge is never taken back twice.
	if amount := min(d.Amount, sale.Gross-refunded-disputed); amount > 0 {
		if err := h.takeBack(sale, store.LedgerDisputeLost, d.ID, amount); err != nil {
			return err
		}
	} else {
		h.s.log.Info("lost dispute of a charge already refunded: nothing more to book", "dispute", d.ID, "payment_intent", pi)
	}
	if sale.Kind == store.LedgerTip {
		return nil
	}
	return h.revoke(accessOf(sale, pi), "dispute lost")
}

// takeBack books amount of sale going back (a refund or a lost dispute, kind) under the
// Stripe object it is for, the platform's fee going back in proportion, at the sale's
// USD rate so that in dollars it undoes what the sale added.
func (h *eventTx) takeBack(sale store.LedgerEntry, kind, object string, amount int64) error {
	fee := int64(0)
	if sale.Gross > 0 {
		fee = (sale.Fee*amount + sale.Gross/2) / sale.Gross
	}
	e := store.LedgerEntry{Kind: kind, CreatorID: sale.CreatorID, StreamID: sale.StreamID,
		ViewerID: sale.ViewerID, Country: sale.Country, Currency: sale.Currency, Gross: -amount, Fee: -fee, Net: -(amount - fee),
		Payouts: sale.Payouts, StripeEventID: h.eventID, StripeObject: object, PaymentIntent: sale.PaymentIntent, CreatedAt: h.now}
	h.inUSD(&e, saleRateOf(sale))
	_, err := h.tx.AddLedger(e)
	return err
}

func (h *eventTx) subscriptionChanged(sub stripe.Subscription, deleted bool) error {
	if _, err := h.tx.EntitlementBySource(sub.ID); errors.Is(err, store.ErrNotFound) && sub.Metadata["livegate_checkout"] == "" {
		return nil // not ours
	}
	switch {
	case deleted, sub.Status == stripe.SubscriptionStatusCanceled, sub.Status == stripe.SubscriptionStatusUnpaid,
		sub.Status == stripe.SubscriptionStatusIncompleteExpired:
		return h.revoke(sub.ID, "subscription "+string(sub.Status))
	case sub.Status == stripe.SubscriptionStatusActive || sub.Status == stripe.SubscriptionStatusTrialing:
		if sub.CurrentPeriodEnd > 0 {
			_, err := h.tx.ExtendEntitlement(sub.ID, time.Unix(sub.CurrentPeriodEnd, 0).UTC(), h.now)
			return ignoreMissing(err)
		}
	}
	return nil // past_due: Stripe is retrying; access stays until it gives up
}

func (h *eventTx) invoicePaid(inv stripe.Invoice) error {
	if inv.Subscription == nil || inv.Subscription.ID == "" || inv.SubscriptionDetails == nil {
		return nil
	}
	co, err := h.tx.Checkout(inv.SubscriptionDetails.Metadata["livegate_checkout"])
	if errors.Is(err, store.ErrNotFound) {
		return nil // not ours
	}
	if err != nil {
		return err
	}
	periodEnd := periodEnd(inv)
	// invoice.paid may come before checkout.session.completed.
	if _, err := h.grant(co, inv.Subscription.ID, periodEnd); err != nil {
		return err
	}
	if _, err := h.tx.ExtendEntitlement(inv.Subscription.ID, periodEnd, h.now); err != nil {
		return err
	}
	// A renewal paid after an earlier invoice was refunded or lost in a dispute opens
	// access again for the period it pays.
	if reopened, err := h.tx.ReopenEntitlement(inv.Subscription.ID, periodEnd, h.now); err != nil {
		return err
	} else if reopened {
		h.s.log.Info("subscription access reopened by a paid invoice", "subscription", inv.Subscription.ID, "invoice", inv.ID)
	}
	// On Connect the fee is what Stripe took on this invoice: its application fee, or,
	// where the event does not say, the percent livegate last set on the subscription
	// (followFee), which is what Stripe applied. On the platform's own charges, in the
	// development checkout, and for a subscription livegate never recorded, it is the fee
	// of the viewer's country at the time of this sale.
	fee := inv.ApplicationFeeAmount
	if co.Payouts != string(countries.PayoutsConnect) || h.s.DevMode() {
		if fee, err = h.feeNow(co, inv.AmountPaid); err != nil {
			return err
		}
	} else if fee == 0 {
		bps, known, err := h.tx.SubscriptionFee(inv.Subscription.ID)
		if err != nil {
			return err
		}
		if known {
			fee = money.Fee(inv.AmountPaid, bps)
		} else if fee, err = h.feeNow(co, inv.AmountPaid); err != nil {
			return err
		}
	}
	pi := ""
	if inv.PaymentIntent != nil {
		pi = inv.PaymentIntent.ID
	}
	cur := strings.ToUpper(string(inv.Currency))
	if cur == "" {
		cur = co.Currency
	}
	// The invoice's own currency: what this renewal was charged in, whatever the checkout was.
	if err := h.sale(co, charge{Currency: cur, Gross: inv.AmountPaid, Fee: min(fee, inv.AmountPaid)}, inv.ID, pi, inv.Subscription.ID); err != nil {
		return err
	}
	return h.feeFollowed() // the fee set up for the next renewal, after this one is booked at the old
}

func (h *eventTx) feeNow(co store.Checkout, gross int64) (int64, error) {
	p, err := h.tx.CountryPolicy(co.Country)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return money.Fee(gross, FromStore(p).FeeAt(h.now)), nil
}

func (h *eventTx) accountUpdated(a stripe.Account) error {
	creatorID, err := h.tx.CreatorByStripeAccount(a.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // not one of our creators
	}
	if err != nil {
		return err
	}
	pay, err := h.tx.CreatorPayment(creatorID)
	if err != nil {
		return err
	}
	pay.ChargesEnabled, pay.PayoutsEnabled = a.ChargesEnabled, a.PayoutsEnabled
	return h.tx.SetCreatorPayment(creatorID, pay)
}
