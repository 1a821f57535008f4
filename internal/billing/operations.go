package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/store"
)

// SetCountry saves an operator's change to a country's policy with an audit entry.
func (s *Service) SetCountry(ctx context.Context, actor string, p countries.Policy) (countries.Policy, error) {
	now := time.Now()
	before, err := s.st.CountryPolicy(ctx, p.Code)
	wasEnabled := err == nil && before.Enabled
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return p, err
	}
	check := p.Validate
	if p.Enabled && !wasEnabled {
		check = p.ValidateEnable
	}
	if err := check(now); err != nil {
		return p, err
	}
	p.UpdatedAt = now.UTC().Truncate(time.Microsecond)
	beforeJSON := "null"
	if err == nil {
		b, _ := json.Marshal(FromStore(before))
		beforeJSON = string(b)
	}
	after, _ := json.Marshal(p)
	a := store.AuditEntry{ID: store.NewID("aud"), Object: "country:" + p.Code, Actor: actor, At: p.UpdatedAt,
		Before: beforeJSON, After: string(after)}
	if err := s.st.PutCountryPolicy(ctx, ToStore(p), a); err != nil {
		return p, err
	}
	s.log.Info("country policy changed", "country", p.Code, "actor", actor, "enabled", p.Enabled)
	return p, nil
}

// policiesIn are the countries selling in a currency.
func (s *Service) policiesIn(ctx context.Context, currency string) ([]countries.Policy, error) {
	ps, err := s.st.CountryPoliciesByCurrency(ctx, currency)
	if err != nil {
		return nil, err
	}
	out := make([]countries.Policy, 0, len(ps))
	for _, p := range ps {
		out = append(out, FromStore(p))
	}
	if len(out) == 0 {
		return nil, &countries.FieldError{Field: "currency", Reason: fmt.Sprintf("no country is configured to sell in %s", currency)}
	}
	return out, nil
}

// SetStreamPrices sets a ticket stream's prices, one per currency, each within the bounds
// of every country selling in that currency.
func (s *Service) SetStreamPrices(ctx context.Context, streamID string, prices map[string]int64) error {
	st, err := s.st.Stream(ctx, streamID)
	if err != nil {
		return err
	}
	if st.AccessMode != store.AccessTicket {
		return &countries.FieldError{Field: "access_mode", Reason: "only ticket streams have ticket prices"}
	}
	var list []store.Price
	for code, amount := range prices {
		cur, ok := money.Lookup(code)
		if !ok || cur.Code != code {
			return &countries.FieldError{Field: "prices." + code, Reason: "not an ISO 4217 currency code (upper case)"}
		}
		if err := cur.CheckAmount(amount); err != nil {
			return &countries.FieldError{Field: "prices." + code, Reason: err.Error()}
		}
		pols, err := s.policiesIn(ctx, code)
		if err != nil {
			return err
		}
		for _, p := range pols {
			if !p.TicketInBounds(amount) {
				return &countries.FieldError{Field: "prices." + code, Reason: fmt.Sprintf("%s is outside %s's ticket bounds %s..%s",
					cur.Format(amount), p.Code, cur.Format(p.MinTicket), cur.Format(p.MaxTicket))}
			}
		}
		list = append(list, store.Price{Currency: code, Amount: amount})
	}
	return s.st.PutStreamPrices(ctx, streamID, list)
}

// SetSubscriptionPrice sets a creator's monthly price in one currency: a recurring Stripe
// Price on the creator's product.
func (s *Service) SetSubscriptionPrice(ctx context.Context, creatorID, currency string, amount int64) (store.Price, error) {
	creator, err := s.st.Creator(ctx, creatorID)
	if err != nil {
		return store.Price{}, err
	}
	cur, ok := money.Lookup(currency)
	if !ok || cur.Code != currency {
		return store.Price{}, &countries.FieldError{Field: "currency", Reason: "not an ISO 4217 currency code (upper case)"}
	}
	if err := cur.CheckAmount(amount); err != nil {
		return store.Price{}, &countries.FieldError{Field: "amount", Reason: err.Error()}
	}
	pols, err := s.policiesIn(ctx, currency)
	if err != nil {
		return store.Price{}, err
	}
	for _, p := range pols {
		if !p.SubInBounds(amount) {
			return store.Price{}, &countries.FieldError{Field: "amount", Reason: fmt.Sprintf("%s is outside %s's subscription bounds %s..%s",
				cur.Format(amount), p.Code, cur.Format(p.MinSub), cur.Format(p.MaxSub))}
		}
	}
	price := store.Price{Currency: currency, Amount: amount}
	if s.DevMode() {
		price.StripePriceID = "price_dev_" + idempotencyKey(creatorID, currency, amount)[:16]
	} else {
		pay, err := s.st.CreatorPayment(ctx, creatorID)
		if err != nil {
			return store.Price{}, err
		}
		if pay.StripeProductID == "" {
			pp := &stripe.ProductParams{Name: stripe.String("Subscription to " + creator.Name),
				Metadata: map[string]string{"livegate_creator": creatorID}}
			pp.SetIdempotencyKey("product-" + creatorID)
			var prod *stripe.Product
			if err := s.stripeCall(ctx, "product", &pp.Params, func() (err error) {
				prod, err = s.sc.Products.New(pp)
				return err
			}); err != nil {
				return store.Price{}, fmt.Errorf("stripe product: %w", err)
			}
			pay.StripeProductID = prod.ID
			if err := s.st.SetCreatorPayment(ctx, creatorID, pay); err != nil {
				return store.Price{}, err
			}
		}
		pp := &stripe.PriceParams{Currency: stripe.String(strings.ToLower(currency)), UnitAmount: stripe.Int64(amount),
			Product: stripe.String(pay.StripeProductID), Recurring: &stripe.PriceRecurringParams{Interval: stripe.String("month")},
			Metadata: map[string]string{"livegate_creator": creatorID}}
		pp.SetIdempotencyKey("price-" + idempotencyKey(creatorID, currency, amount))
		var pr *stripe.Price
		if err := s.stripeCall(ctx, "price", &pp.Params, func() (err error) {
			pr, err = s.sc.Prices.New(pp)
			return err
		}); err != nil {
			return store.Price{}, fmt.Errorf("stripe price: %w", err)
		}
		price.StripePriceID = pr.ID
	}
	if err := s.st.PutSubscriptionPrice(ctx, creatorID, price); err != nil {
		return store.Price{}, err
	}
	return price, nil
}

// Onboard starts (or resumes) a creator's Stripe Connect Express onboarding and returns
// the link to send the creator to.
func (s *Service) Onboard(ctx context.Context, creatorID, returnURL string) (string, error) {
	creator, err := s.st.Creator(ctx, creatorID)
	if err != nil {
		return "", err
	}
	if s.payoutsOf(ctx, creator) == countries.PayoutsManual {
		return "", fmt.Errorf("%w: creators in %s are paid out by the operator", ErrManualPayouts, creator.Country)
	}
	if s.DevMode() {
		return "", fmt.Errorf("%w: Stripe is not configured (development checkout)", ErrCreatorNotReady)
	}
	pay, err := s.st.CreatorPayment(ctx, creatorID)
	if err != nil {
		return "", err
	}
	if pay.StripeAccountID == "" {
		ap := &stripe.AccountParams{Type: stripe.String(string(stripe.AccountTypeExpress)),
			Capabilities: &stripe.AccountCapabilitiesParams{
				CardPayments: &stripe.AccountCapabilitiesCardPaymentsParams{Requested: stripe.Bool(true)},
				Transfers:    &stripe.AccountCapabilitiesTransfersParams{Requested: stripe.Bool(true)}},
			Metadata: map[string]string{"livegate_creator": creatorID}}
		if creator.Country != "" {
			ap.Country = stripe.String(creator.Country)
		}
		ap.SetIdempotencyKey("account-" + creatorID)
		var acct *stripe.Account
		if err := s.stripeCall(ctx, "account", &ap.Params, func() (err error) {
			acct, err = s.sc.Accounts.New(ap)
			return err
		}); err != nil {
			return "", fmt.Errorf("stripe account: %w", err)
		}
		pay.StripeAccountID, pay.ChargesEnabled, pay.PayoutsEnabled = acct.ID, acct.ChargesEnabled, acct.PayoutsEnabled
		if pay.Country == "" {
			pay.Country = creator.Country
		}
		if err := s.st.SetCreatorPayment(ctx, creatorID, pay); err != nil {
			return "", err
		}
	}
	lp := &stripe.AccountLinkParams{Account: stripe.String(pay.StripeAccountID),
		RefreshURL: stripe.String(returnURL), ReturnURL: stripe.String(returnURL), Type: stripe.String("account_onboarding")}
	var link *stripe.AccountLink
	if err := s.stripeCall(ctx, "account_link", &lp.Params, func() (err error) {
		link, err = s.sc.AccountLinks.New(lp)
		return err
	}); err != nil {
		return "", fmt.Errorf("stripe account link: %w", err)
	}
	return link.URL, nil
}

// CompleteDevCheckout pays a development checkout through the same code as Stripe's
// webhooks; paying twice changes nothing.
func (s *Service) CompleteDevCheckout(ctx context.Context, id string) error {
	if !s.DevMode() {
		return errors.New("the development checkout is off: Stripe is configured")
	}
	co, err := s.st.Checkout(ctx, id)
	if err != nil {
		return err
	}
	md := metadata(co)
	if co.Kind == store.KindSubscription {
		sub := "sub_dev_" + co.ID
		cs := map[string]any{"id": co.StripeSessionID, "object": "checkout.session", "mode": "subscription", "payment_status": "paid",
			"amount_total": co.Amount, "currency": strings.ToLower(co.Currency), "metadata": md, "subscription": sub}
		if err := s.applyJSON(ctx, "evt_dev_done_"+co.ID, "checkout.session.completed", cs); err != nil {
			return err
		}
		inv := map[string]any{"id": "in_dev_" + co.ID, "object": "invoice", "amount_paid": co.Amount, "currency": strings.ToLower(co.Currency),
			"subscription": sub, "subscription_details": map[string]any{"metadata": md}, "payment_intent": "pi_dev_" + co.ID,
			"period_end": time.Now().Unix(), "lines": map[string]any{"object": "list", "data": []any{map[string]any{
				"id": "il_dev_" + co.ID, "period": map[string]any{"start": time.Now().Unix(), "end": time.Now().AddDate(0, 1, 0).Unix()}}}}}
		return s.applyJSON(ctx, "evt_dev_invoice_"+co.ID, "invoice.paid", inv)
	}
	cs := map[string]any{"id": co.StripeSessionID, "object": "checkout.session", "mode": "payment", "payment_status": "paid",
		"amount_total": co.Amount, "currency": strings.ToLower(co.Currency), "metadata": md, "payment_intent": "pi_dev_" + co.ID}
	return s.applyJSON(ctx, "evt_dev_done_"+co.ID, "checkout.session.completed", cs)
}

func (s *Service) applyJSON(ctx context.Context, eventID, eventType string, obj any) error {
	raw, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return s.apply(ctx, eventID, eventType, raw, prepared{})
}

// RefundStream refunds every ticket of a stream (a creator cancelling before it starts).
// It is safe to repeat: Stripe refunds are idempotent per payment, and access is revoked
// at once rather than when Stripe's charge.refunded arrives.
func (s *Service) RefundStream(ctx context.Context, streamID string) (int, error) {
	ents, err := s.st.EntitlementsOfStream(ctx, streamID)
	if err != nil {
		return 0, err
	}
	sales, err := s.salesOfStream(ctx, streamID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		if e.Kind != store.KindTicket || e.State != store.EntActive {
			continue
		}
		sale, sold := sales[e.Source]
		if s.DevMode() {
			if !sold {
				return n, fmt.Errorf("refund %s: %w", e.Source, store.ErrNotFound)
			}
			ch := map[string]any{"id": "ch_dev_" + e.Source, "object": "charge", "payment_intent": e.Source,
				"refunded": true, "amount_refunded": sale.Gross}
			if err := s.applyJSON(ctx, "evt_dev_refund_"+e.Source, "charge.refunded", ch); err != nil {
				return n, err
			}
		} else {
			rp := &stripe.RefundParams{PaymentIntent: stripe.String(e.Source), RefundApplicationFee: stripe.Bool(true),
				ReverseTransfer: stripe.Bool(true), Metadata: map[string]string{"livegate_reason": "stream cancelled"}}
			if sold && sale.Payouts != string(countries.PayoutsConnect) {
				rp.RefundApplicationFee, rp.ReverseTransfer = nil, nil // a platform charge has neither
			}
			rp.SetIdempotencyKey("refund-" + e.Source)
			if err := s.stripeCall(ctx, "refund", &rp.Params, func() error {
				_, err := s.sc.Refunds.New(rp)
				return err
			}); err != nil {
				return n, fmt.Errorf("refund %s: %w", e.Source, err)
			}
			// Access ends now; the ledger entry comes with Stripe's charge.refunded.
			if err := s.applyJSON(ctx, "local_revoke_"+e.Source, eventRevoke,
				revokeRequest{Source: e.Source, Reason: "stream cancelled"}); err != nil {
				return n, err
			}
		}
		n++
	}
	return n, nil
}

// salesOfStream are a stream's ticket sales by payment intent, read once.
func (s *Service) salesOfStream(ctx context.Context, streamID string) (map[string]store.LedgerEntry, error) {
	st, err := s.st.Stream(ctx, streamID)
	if err != nil {
		return nil, err
	}
	led, err := s.st.Ledger(ctx, st.CreatorID)
	if err != nil {
		return nil, err
	}
	sales := map[string]store.LedgerEntry{}
	for _, l := range led {
		if l.Kind == store.LedgerSale && l.StreamID == streamID && l.PaymentIntent != "" {
			sales[l.PaymentIntent] = l
		}
	}
	return sales, nil
}

// CurrencyBounds is what a creator may charge in one currency: the bounds every country
// selling in it allows (the same test SetStreamPrices and SetSubscriptionPrice apply).
type CurrencyBounds struct {
	Currency  string   `json:"currency"`
	Exponent  int      `json:"exponent"`  // minor-unit digits: 2 for MAD, 0 for JPY
	Countries []string `json:"countries"` // the enabled countries that sell in it
	MinTicket int64    `json:"min_ticket"`
	MaxTicket int64    `json:"max_ticket"`
	MinSub    int64    `json:"min_subscription"`
	MaxSub    int64    `json:"max_subscription"`
}

// PriceBounds lists the currencies of the enabled countries with the price bounds in
// each, so that a creator can price a stream everywhere it is sold before saving.
func (s *Service) PriceBounds(ctx context.Context) ([]CurrencyBounds, error) {
	ps, err := s.st.ListCountryPolicies(ctx)
	if err != nil {
		return nil, err
	}
	by := map[string]*CurrencyBounds{}
	for _, p := range ps {
		if p.Currency == "" {
			continue
		}
		b := by[p.Currency]
		if b == nil {
			cur, ok := money.Lookup(p.Currency)
			if !ok {
				continue
			}
			b = &CurrencyBounds{Currency: cur.Code, Exponent: cur.Exponent, Countries: []string{},
				MaxTicket: p.MaxTicket, MaxSub: p.MaxSub}
			by[p.Currency] = b
		}
		// Every configured country in the currency bounds it, enabled or not: that is
		// what saving a price checks.
		b.MinTicket, b.MaxTicket = max(b.MinTicket, p.MinTicket), min(b.MaxTicket, p.MaxTicket)
		b.MinSub, b.MaxSub = max(b.MinSub, p.MinSub), min(b.MaxSub, p.MaxSub)
		if p.Enabled {
			b.Countries = append(b.Countries, p.Code)
		}
	}
	out := []CurrencyBounds{}
	for _, b := range by {
		if len(b.Countries) > 0 {
			sort.Strings(b.Countries)
			out = append(out, *b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out, nil
}
