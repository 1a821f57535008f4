// Package billing is livegate's money plane: Stripe Checkout for tickets and creator
// subscriptions (Connect destination charges with the viewer's country's fee, or platform
// charges with a creator balance where Connect is not self-serve), creator onboarding,
// refunds, signed webhooks applied exactly once, and the ledger behind creator earnings.
// Without a Stripe key it runs a clearly marked development checkout through the same
// entitlement and ledger code.
package billing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/ledger"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/store"
)

// Errors of selling, with the problem an API caller gets for each.
var (
	ErrCountryNotEnabled = &problem.Error{Status: http.StatusUnavailableForLegalReasons, Type: "country-not-enabled",
		Title: "Paid live is not available in your country", Msg: "paid live is not available in the viewer's country"}
	ErrNotForSale      = &problem.Error{Status: http.StatusConflict, Type: "not-for-sale", Title: "Not for sale here", Msg: "not for sale"}
	ErrAlreadyEntitled = &problem.Error{Status: http.StatusConflict, Type: "already-entitled", Title: "You already have access",
		Msg: "viewer already has access"}
	ErrCreatorNotReady = &problem.Error{Status: http.StatusConflict, Type: "creator-not-ready", Title: "Creator cannot take payments yet",
		Msg: "creator cannot take payments yet"}
	ErrBadSignature = &problem.Error{Status: http.StatusBadRequest, Type: "bad-signature", Title: "Webhook signature rejected",
		Msg: "webhook signature rejected"}
	ErrManualPayouts = &problem.Error{Status: http.StatusConflict, Type: "manual-payouts", Title: "Creator is paid out manually",
		Msg: "creator's country uses manual payouts"}
)

// Store is the durable data billing needs: what selling reads and writes, and the
// transaction a Stripe event is booked in (store.BillingTx holds what that may change).
type Store interface {
	Creator(ctx context.Context, id string) (store.Creator, error)
	Stream(ctx context.Context, id string) (store.Stream, error)
	Recordings(ctx context.Context, streamID string) ([]store.Recording, error)

	CountryPolicy(ctx context.Context, code string) (store.CountryPolicy, error)
	ListCountryPolicies(ctx context.Context) ([]store.CountryPolicy, error)
	CountryPoliciesByCurrency(ctx context.Context, currency string) ([]store.CountryPolicy, error)
	PutCountryPolicy(ctx context.Context, p store.CountryPolicy, audit store.AuditEntry) error

	SetCreatorPayment(ctx context.Context, creatorID string, p store.CreatorPayment) error
	CreatorPayment(ctx context.Context, creatorID string) (store.CreatorPayment, error)
	PutStreamPrices(ctx context.Context, streamID string, prices []store.Price) error
	StreamPrices(ctx context.Context, streamID string) ([]store.Price, error)
	PutSubscriptionPrice(ctx context.Context, creatorID string, p store.Price) error
	SubscriptionPrices(ctx context.Context, creatorID string) ([]store.Price, error)

	CreateCheckout(ctx context.Context, c store.Checkout) error
	Checkout(ctx context.Context, id string) (store.Checkout, error)
	ActiveEntitlement(ctx context.Context, viewerID, kind, streamID, creatorID string, now time.Time) (store.Entitlement, error)
	EntitlementsOfStream(ctx context.Context, streamID string) ([]store.Entitlement, error)
	SubscriptionFeeOf(ctx context.Context, subscriptionID string) (bps int, ok bool, err error)
	// Ledger is read to refund a stream's sales.
	Ledger(ctx context.Context, creatorID string) ([]store.LedgerEntry, error)

	store.Promos

	PendingRevocations(ctx context.Context, limit int) ([]store.Revocation, error)
	RevocationDelivered(ctx context.Context, id string, at time.Time) error
	ApplyEvent(ctx context.Context, eventID, eventType string, apply func(tx store.BillingTx) error) (applied bool, err error)
	EventApplied(ctx context.Context, eventID string) (bool, error)
}

// Config sets billing up.
type Config struct {
	// SecretKey is the Stripe secret key; empty selects the development checkout.
	SecretKey string
	// WebhookSecret is the endpoint's signing secret (whsec_...).
	WebhookSecret string
	// ConnectWebhookSecret is the Connect endpoint's signing secret, if it has its own.
	ConnectWebhookSecret string
	// APIBase overrides Stripe's API URL (stripe-mock in tests).
	APIBase string
	// PublicURL is where viewers' browsers reach this service, for redirects.
	PublicURL string
	Logger    *slog.Logger
	// Deliver tells every node to drop a revoked entitlement's viewers. Revocations are
	// queued in the transaction that revokes (the outbox) and Deliver is retried until it
	// succeeds, so a revocation survives a session store that is briefly away.
	Deliver func(ctx context.Context, r store.Revocation) error
	// Metrics, when nil, are kept but not registered anywhere.
	Metrics *Metrics
	// ReplayWindow is how long after its end a recorded stream's tickets still sell (to
	// replay it), when the stream sets no window of its own.
	ReplayWindow time.Duration
	// USDRates converts sales to US dollars where Stripe's balance transaction does not
	// (the development checkout, manual payouts, a settlement currency other than USD).
	USDRates *money.RateTable
	// BuyerBudget is how long a buyer's checkout may spend at Stripe in all before it
	// answers 503 payments-unavailable (0: 6 s).
	BuyerBudget time.Duration
	// EventsEmitted is called after a commit that queued webhooks out (the dispatcher's
	// Wake), so they leave at once rather than at the next poll.
	EventsEmitted func()
}

// Service is the money plane.
type Service struct {
	st  Store
	cfg Config
	sc  *client.API // nil in development checkout mode
	log *slog.Logger
	// outboxWake nudges RunOutbox when a commit queued revocations.
	outboxWake chan struct{}
	usd        *ledger.USD
}

// New returns the billing service.
func New(st Store, cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Deliver == nil {
		cfg.Deliver = func(context.Context, store.Revocation) error { return nil }
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	s := &Service{st: st, cfg: cfg, log: cfg.Logger, outboxWake: make(chan struct{}, 1), usd: ledger.NewUSD(cfg.Logger)}
	if cfg.SecretKey != "" {
		bc := &stripe.BackendConfig{LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}, MaxNetworkRetries: stripe.Int64(2)}
		if cfg.APIBase != "" {
			bc.URL = stripe.String(strings.TrimRight(cfg.APIBase, "/"))
		}
		sc := &client.API{}
		sc.Init(cfg.SecretKey, stripe.NewBackendsWithConfig(bc))
		s.sc = sc
	}
	return s, nil
}

// DevMode reports whether purchases go through the local development checkout.
func (s *Service) DevMode() bool { return s.sc == nil }

// Sellable returns the policy of a country where paid live is open now.
func (s *Service) Sellable(ctx context.Context, country string) (countries.Policy, error) {
	if country == "" {
		return countries.Policy{}, fmt.Errorf("%w: the viewer's country is unknown", ErrCountryNotEnabled)
	}
	p, err := s.st.CountryPolicy(ctx, country)
	if errors.Is(err, store.ErrNotFound) {
		return countries.Policy{}, fmt.Errorf("%w: %s", ErrCountryNotEnabled, country)
	}
	if err != nil {
		return countries.Policy{}, err
	}
	pol := FromStore(p)
	if !pol.Sellable(time.Now()) {
		if pol.Enabled && time.Now().Before(pol.LaunchAt) {
			return pol, fmt.Errorf("%w: %s launches %s", ErrCountryNotEnabled, country, pol.LaunchAt.Format(time.RFC3339))
		}
		return pol, fmt.Errorf("%w: %s", ErrCountryNotEnabled, country)
	}
	return pol, nil
}

// FromStore converts a stored policy.
func FromStore(p store.CountryPolicy) countries.Policy {
	return countries.Policy{Code: p.Code, Enabled: p.Enabled, LaunchAt: p.LaunchAt, Currency: p.Currency,
		MinTicket: p.MinTicket, MaxTicket: p.MaxTicket, MinSub: p.MinSub, MaxSub: p.MaxSub, MinTip: p.MinTip, MaxTip: p.MaxTip,
		FeeBPS: p.FeeBPS, FeeWaivedUntil: p.FeeWaivedUntil, Payouts: countries.Payouts(p.Payouts), UpdatedAt: p.UpdatedAt}
}

// ToStore converts a policy for storage.
func ToStore(p countries.Policy) store.CountryPolicy {
	return store.CountryPolicy{Code: p.Code, Enabled: p.Enabled, LaunchAt: p.LaunchAt, Currency: p.Currency,
		MinTicket: p.MinTicket, MaxTicket: p.MaxTicket, MinSub: p.MinSub, MaxSub: p.MaxSub, MinTip: p.MinTip, MaxTip: p.MaxTip,
		FeeBPS: p.FeeBPS, FeeWaivedUntil: p.FeeWaivedUntil, Payouts: string(p.Payouts), UpdatedAt: p.UpdatedAt}
}

// payoutsOf is how the creator is paid (see ledger.PayoutsOf).
func (s *Service) payoutsOf(ctx context.Context, c store.Creator) countries.Payouts {
	return ledger.PayoutsOf(ctx, s.st, c)
}

// Offer is what a viewer would pay, before any checkout exists.
type Offer struct {
	Kind     string
	Country  string
	Currency string
	Amount   int64
	Display  string // e.g. "MAD 49.00"
}

// TicketOffer prices a ticket for a viewer in country, or says why it is not on sale.
func (s *Service) TicketOffer(ctx context.Context, st store.Stream, country string) (Offer, error) {
	off, _, err := s.ticketOffer(ctx, st, country)
	return off, err
}

// SubscriptionOffer prices a monthly subscription to a creator for a viewer in country.
func (s *Service) SubscriptionOffer(ctx context.Context, creatorID, country string) (Offer, error) {
	off, _, _, err := s.subscriptionOffer(ctx, creatorID, country)
	return off, err
}

// replayable says whether an ended stream can still be replayed: recorded, within its
// replay window, with a part that plays.
func (s *Service) replayable(ctx context.Context, st store.Stream) bool {
	if !st.Record || time.Now().After(st.ReplayUntil(s.cfg.ReplayWindow)) {
		return false
	}
	parts, err := s.st.Recordings(ctx, st.ID)
	if err != nil {
		s.log.Warn("recordings of an ended stream", "stream", st.ID, "err", err)
		return false
	}
	for _, p := range parts {
		if p.State == store.RecordingComplete || p.State == store.RecordingInterrupted {
			return true
		}
	}
	return false
}

// ticketOffer is TicketOffer with the country policy the checkout needs.
func (s *Service) ticketOffer(ctx context.Context, st store.Stream, country string) (Offer, countries.Policy, error) {
	if st.AccessMode != store.AccessTicket {
		return Offer{}, countries.Policy{}, fmt.Errorf("%w: stream %s is %s, not sold by ticket", ErrNotForSale, st.ID, st.AccessMode)
	}
	// An ended stream's ticket is its replay: sold while the replay window is open, if
	// there is something to replay.
	if st.State == store.StateEnded && !s.replayable(ctx, st) {
		return Offer{}, countries.Policy{}, fmt.Errorf("%w: stream %s has ended", ErrNotForSale, st.ID)
	}
	pol, err := s.Sellable(ctx, country)
	if err != nil {
		return Offer{}, pol, err
	}
	prices, err := s.st.StreamPrices(ctx, st.ID)
	if err != nil {
		return Offer{}, pol, err
	}
	for _, p := range prices {
		if p.Currency == pol.Currency {
			if !pol.TicketInBounds(p.Amount) {
				return Offer{}, pol, fmt.Errorf("%w: the %s price is outside %s's ticket bounds", ErrNotForSale, p.Currency, country)
			}
			return offer(store.KindTicket, country, p), pol, nil
		}
	}
	return Offer{}, pol, fmt.Errorf("%w: stream %s has no price in %s, the currency of %s", ErrNotForSale, st.ID, pol.Currency, country)
}

// subscriptionOffer is SubscriptionOffer with the policy and the price the checkout needs.
func (s *Service) subscriptionOffer(ctx context.Context, creatorID, country string) (Offer, countries.Policy, store.Price, error) {
	pol, err := s.Sellable(ctx, country)
	if err != nil {
		return Offer{}, pol, store.Price{}, err
	}
	prices, err := s.st.SubscriptionPrices(ctx, creatorID)
	if err != nil {
		return Offer{}, pol, store.Price{}, err
	}
	for _, p := range prices {
		if p.Currency == pol.Currency {
			if !pol.SubInBounds(p.Amount) {
				return Offer{}, pol, p, fmt.Errorf("%w: the %s subscription price is outside %s's bounds", ErrNotForSale, p.Currency, country)
			}
			return offer(store.KindSubscription, country, p), pol, p, nil
		}
	}
	return Offer{}, pol, store.Price{}, fmt.Errorf("%w: creator %s has no subscription in %s, the currency of %s", ErrNotForSale, creatorID, pol.Currency, country)
}

func offer(kind, country string, p store.Price) Offer {
	cur, _ := money.Lookup(p.Currency)
	return Offer{Kind: kind, Country: country, Currency: p.Currency, Amount: p.Amount, Display: cur.Format(p.Amount)}
}

// CheckoutTicket starts (or returns the already started) purchase of a ticket.
func (s *Service) CheckoutTicket(ctx context.Context, viewerID, streamID, country string) (store.Checkout, error) {
	return s.BuyTicket(ctx, TicketOrder{Viewer: viewerID, Stream: streamID, Country: country})
}

// TicketOrder is a ticket a viewer buys: for themselves, or as a gift for Recipient,
// with a promo code or not.
type TicketOrder struct {
	Viewer, Stream, Country string
	Recipient               string // another viewer id: a gifted ticket
	PromoCode               string
}

// ErrBadRecipient is a gift to oneself or to no one.
var ErrBadRecipient = &problem.Error{Status: http.StatusUnprocessableEntity, Type: "bad-recipient", Title: "Cannot gift to this viewer",
	Msg: "bad gift recipient"}

// BuyTicket starts the purchase of a ticket: the entitlement goes to the recipient of a
// gift, else to the buyer, once the payment's webhook is in.
func (s *Service) BuyTicket(ctx context.Context, o TicketOrder) (store.Checkout, error) {
	ctx, cancel := s.withBuyerBudget(ctx)
	defer cancel()
	st, err := s.st.Stream(ctx, o.Stream)
	if err != nil {
		return store.Checkout{}, err
	}
	off, pol, err := s.ticketOffer(ctx, st, o.Country)
	if err != nil {
		return store.Checkout{}, err
	}
	holder := o.Viewer
	if o.Recipient != "" {
		if o.Recipient == o.Viewer || len(o.Recipient) > 200 {
			return store.Checkout{}, fmt.Errorf("%w: a gift goes to another viewer id (1 to 200 characters)", ErrBadRecipient)
		}
		holder = o.Recipient
	}
	// A gift is sold whether or not its recipient holds a ticket already: refusing it
	// would tell anyone who asks which viewer ids hold one. (A recipient who had one
	// holds two; the operator may refund the gift.)
	if o.Recipient == "" {
		if _, err := s.st.ActiveEntitlement(ctx, holder, store.KindTicket, st.ID, st.CreatorID, time.Now()); err == nil {
			return store.Checkout{}, ErrAlreadyEntitled
		}
	}
	creator, err := s.st.Creator(ctx, st.CreatorID)
	if err != nil {
		return store.Checkout{}, err
	}
	name := st.Title
	if o.Recipient != "" {
		name = st.Title + " (gift)"
	}
	p := purchase{viewer: o.Viewer, kind: store.KindTicket, streamID: st.ID, creator: creator, pol: pol, off: off, name: name,
		recipient: o.Recipient}
	if o.PromoCode != "" {
		code, err := s.applicablePromo(ctx, o.PromoCode, st, off)
		if err != nil {
			return store.Checkout{}, err
		}
		p.promo = &code
	}
	return s.checkout(ctx, p)
}

// CheckoutSubscription starts the purchase of a monthly subscription to a creator.
func (s *Service) CheckoutSubscription(ctx context.Context, viewerID, creatorID, country string) (store.Checkout, error) {
	ctx, cancel := s.withBuyerBudget(ctx)
	defer cancel()
	creator, err := s.st.Creator(ctx, creatorID)
	if err != nil {
		return store.Checkout{}, err
	}
	off, pol, price, err := s.subscriptionOffer(ctx, creatorID, country)
	if err != nil {
		return store.Checkout{}, err
	}
	if _, err := s.st.ActiveEntitlement(ctx, viewerID, store.KindSubscription, "", creatorID, time.Now()); err == nil {
		return store.Checkout{}, ErrAlreadyEntitled
	}
	return s.checkout(ctx, purchase{viewer: viewerID, kind: store.KindSubscription, creator: creator, pol: pol, off: off,
		stripePrice: price.StripePriceID, name: "Subscription to " + creator.Name})
}

// purchase is one checkout to start.
type purchase struct {
	viewer, kind, streamID string
	creator                store.Creator
	pol                    countries.Policy
	off                    Offer // the list price
	stripePrice, name      string
	recipient, message     string
	promo                  *store.PromoCode
}

func (s *Service) checkout(ctx context.Context, p purchase) (store.Checkout, error) {
	now := time.Now()
	feeBPS := p.pol.FeeAt(now)
	payouts := s.payoutsOf(ctx, p.creator)
	pay, err := s.st.CreatorPayment(ctx, p.creator.ID)
	if err != nil {
		return store.Checkout{}, err
	}
	if payouts == countries.PayoutsConnect && !s.DevMode() && (pay.StripeAccountID == "" || !pay.ChargesEnabled) {
		return store.Checkout{}, fmt.Errorf("%w: the creator has not finished Stripe onboarding", ErrCreatorNotReady)
	}
	product := p.streamID
	if p.kind == store.KindSubscription {
		product = p.creator.ID
	}
	amount, discount, promoID := p.off.Amount, int64(0), ""
	if p.promo != nil {
		discount = p.promo.Discount(amount)
		amount -= discount
		promoID = p.promo.ID
	}
	// The same viewer buying the same thing at the same terms on the same day gets the same
	// checkout, here and at Stripe (whose idempotency keys last 24 hours): double clicks
	// and retries never make two sessions.
	key := idempotencyKey(p.viewer, p.kind, product, p.off.Currency, amount, feeBPS, string(payouts), now.UTC().Format("2006-01-02"),
		p.recipient, p.message, promoID)
	id := "co_" + key[:26]
	if existing, err := s.st.Checkout(ctx, id); err == nil {
		if existing.State == "open" {
			return existing, nil
		}
		// That purchase finished (and was refunded, or failed): this is a new one.
		key = idempotencyKey(key, store.NewID("retry"))
		id = "co_" + key[:26]
	}
	co := store.Checkout{ID: id, ViewerID: p.viewer, Kind: p.kind, StreamID: p.streamID, CreatorID: p.creator.ID, Country: p.off.Country,
		Currency: p.off.Currency, Amount: amount, FeeBPS: feeBPS, Fee: money.Fee(amount, feeBPS), Payouts: string(payouts),
		State: "open", CreatedAt: now.UTC().Truncate(time.Microsecond), RecipientID: p.recipient, Message: p.message,
		PromoCodeID: promoID, Discount: discount}
	if p.promo != nil {
		// The cap is held here, before Stripe hears of the checkout: of racing viewers,
		// exactly as many as the code has redemptions left get it.
		ok, err := s.st.ReservePromoCode(ctx, p.promo.ID, now)
		if err != nil {
			return store.Checkout{}, err
		}
		if !ok {
			return store.Checkout{}, fmt.Errorf("%w: %s has no redemptions left", ErrPromoExhausted, p.promo.Code)
		}
	}
	release := func() {
		if p.promo != nil {
			if err := s.st.ReleasePromoCode(context.WithoutCancel(ctx), p.promo.ID); err != nil {
				s.log.Warn("release promo code", "code", p.promo.ID, "err", err)
			}
		}
	}
	if s.DevMode() {
		co.StripeSessionID = "dev_" + id
		co.URL = strings.TrimRight(s.cfg.PublicURL, "/") + "/dev/checkout/" + id
	} else {
		sess, err := s.stripeSession(ctx, co, pay, p, key)
		if err != nil {
			release()
			return store.Checkout{}, fmt.Errorf("stripe checkout: %w", err)
		}
		co.StripeSessionID, co.URL = sess.ID, sess.URL
	}
	if err := s.st.CreateCheckout(ctx, co); err != nil {
		release()
		if existing, err2 := s.st.Checkout(ctx, id); err2 == nil {
			return existing, nil // a concurrent identical request won
		}
		return store.Checkout{}, err
	}
	s.log.Info("checkout started", "checkout", co.ID, "kind", p.kind, "country", co.Country, "currency", co.Currency,
		"amount", co.Amount, "discount", co.Discount, "fee", co.Fee, "payouts", co.Payouts, "gift", co.RecipientID != "")
	return co, nil
}

func idempotencyKey(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%v|", p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// metadata marks Stripe objects as ours and carries the purchase.
func metadata(co store.Checkout) map[string]string {
	md := map[string]string{"livegate_checkout": co.ID, "livegate_kind": co.Kind, "livegate_viewer": co.ViewerID,
		"livegate_stream": co.StreamID, "livegate_creator": co.CreatorID, "livegate_country": co.Country}
	if co.RecipientID != "" {
		md["livegate_recipient"] = co.RecipientID
	}
	return md
}

func (s *Service) stripeSession(ctx context.Context, co store.Checkout, pay store.CreatorPayment, pur purchase, key string) (*stripe.CheckoutSession, error) {
	base := strings.TrimRight(s.cfg.PublicURL, "/")
	p := &stripe.CheckoutSessionParams{
		ClientReferenceID: stripe.String(co.ViewerID),
		SuccessURL:        stripe.String(base + "/checkout/done?checkout=" + co.ID),
		CancelURL:         stripe.String(base + "/checkout/cancelled?checkout=" + co.ID),
		Metadata:          metadata(co),
	}
	connect := co.Payouts == string(countries.PayoutsConnect) && pay.StripeAccountID != ""
	if co.Kind != store.KindSubscription { // tickets and tips: one payment
		p.Mode = stripe.String(string(stripe.CheckoutSessionModePayment))
		// Stripe takes the discount off the list price itself, with the code's coupon.
		p.LineItems = []*stripe.CheckoutSessionLineItemParams{{
			Quantity: stripe.Int64(1),
			PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{Currency: stripe.String(strings.ToLower(co.Currency)),
				UnitAmount: stripe.Int64(co.Amount + co.Discount), ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String(pur.name)}},
		}}
		if pur.promo != nil && pur.promo.StripeCouponID != "" {
			p.Discounts = []*stripe.CheckoutSessionDiscountParams{{Coupon: stripe.String(pur.promo.StripeCouponID)}}
			// A reservation should not outlive a viewer who walks away for long: Stripe's
			// shortest session, after which checkout.session.expired gives it back.
			p.ExpiresAt = stripe.Int64(time.Now().Add(31 * time.Minute).Unix())
		}
		p.PaymentIntentData = &stripe.CheckoutSessionPaymentIntentDataParams{Metadata: metadata(co)}
		if connect {
			p.PaymentIntentData.ApplicationFeeAmount = stripe.Int64(co.Fee)
			p.PaymentIntentData.TransferData = &stripe.CheckoutSessionPaymentIntentDataTransferDataParams{Destination: stripe.String(pay.StripeAccountID)}
		}
	} else {
		p.Mode = stripe.String(string(stripe.CheckoutSessionModeSubscription))
		p.LineItems = []*stripe.CheckoutSessionLineItemParams{{Price: stripe.String(pur.stripePrice), Quantity: stripe.Int64(1)}}
		p.SubscriptionData = &stripe.CheckoutSessionSubscriptionDataParams{Metadata: metadata(co)}
		if connect {
			// Stripe takes the subscription fee as a percentage; bps/100 is exact.
			p.SubscriptionData.ApplicationFeePercent = stripe.Float64(float64(co.FeeBPS) / 100)
			p.SubscriptionData.TransferData = &stripe.CheckoutSessionSubscriptionDataTransferDataParams{Destination: stripe.String(pay.StripeAccountID)}
		}
	}
	p.SetIdempotencyKey("checkout-" + key)
	var sess *stripe.CheckoutSession
	err := s.stripeCall(ctx, "checkout_session", &p.Params, func() (err error) {
		sess, err = s.sc.CheckoutSessions.New(p)
		return err
	})
	return sess, err
}
