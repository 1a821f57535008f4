package store

import (
	"context"
	"time"
)

// CountryPolicy rows and their audit trail. The policy type itself lives in the countries
// package; the store keeps it as the columns below.
type CountryPolicy struct {
	Code           string
	Enabled        bool
	LaunchAt       time.Time
	Currency       string
	MinTicket      int64
	MaxTicket      int64
	MinSub         int64
	MaxSub         int64
	MinTip         int64
	MaxTip         int64
	FeeBPS         int
	FeeWaivedUntil time.Time
	Payouts        string
	UpdatedAt      time.Time
}

// AuditEntry is one change an operator made, with the state before and after as JSON.
type AuditEntry struct {
	ID     string
	Object string // e.g. "country:MA"
	Actor  string
	At     time.Time
	Before string
	After  string
}

// Price is an amount in a currency's minor units.
type Price struct {
	Currency string
	Amount   int64
	// StripePriceID is set for subscription prices (a recurring Stripe Price).
	StripePriceID string
}

// Checkout is a purchase a viewer started: what, at which price and fee, from where.
type Checkout struct {
	ID              string
	StripeSessionID string
	ViewerID        string
	Kind            string // ticket, subscription or tip
	StreamID        string // tickets and tips
	CreatorID       string
	Country         string
	Currency        string
	Amount          int64
	FeeBPS          int
	Fee             int64
	Payouts         string // connect or manual
	State           string // open, completed, failed
	URL             string
	CreatedAt       time.Time
	// RecipientID is who a gifted ticket is for (empty: the buyer, ViewerID).
	RecipientID string
	// Message is a tip's message to the creator and the stream's viewers.
	Message string
	// PromoCodeID is the promo code this checkout holds; Amount is the price after its
	// Discount.
	PromoCodeID string
	Discount    int64
}

// Holder is who a checkout's entitlement goes to: the recipient of a gift, else the buyer.
func (c Checkout) Holder() string {
	if c.RecipientID != "" {
		return c.RecipientID
	}
	return c.ViewerID
}

// Entitlement kinds and states.
const (
	KindTicket       = "ticket"
	KindSubscription = "subscription"
	KindTip          = "tip"
	EntActive        = "active"
	EntRevoked       = "revoked"
)

// Entitlement is a viewer's right to watch: a ticket for one stream or a subscription to
// a creator. Source is the Stripe object it came from (payment intent or subscription),
// unique, so the same purchase can never grant twice.
type Entitlement struct {
	ID            string
	ViewerID      string
	Kind          string
	StreamID      string
	CreatorID     string
	Source        string
	State         string
	RevokedReason string
	ExpiresAt     time.Time // subscriptions: end of the paid period
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Ledger entry kinds.
const (
	LedgerSale        = "sale"
	LedgerTip         = "tip"
	LedgerRefund      = "refund"
	LedgerDisputeLost = "dispute_lost"
)

// LedgerEntry is one movement of money: a sale (positive) or a refund or lost dispute
// (negative), with the platform fee and the creator's net of it.
type LedgerEntry struct {
	ID            string
	Kind          string
	CreatorID     string
	StreamID      string
	ViewerID      string
	Country       string
	Currency      string
	Gross         int64
	Fee           int64
	Net           int64
	Payouts       string
	StripeEventID string
	StripeObject  string // the payment intent, invoice, refund or dispute this entry is for
	PaymentIntent string
	CreatedAt     time.Time
	// Discount is what a promo code took off a sale (Gross is what was paid).
	Discount int64
	// The entry in US dollar cents at the rate of its day: USDRate is that rate (USD per
	// major unit of Currency, as a decimal) and USDRateSource where it came from
	// ("stripe": the payment's balance transaction; "table": the configured rates).
	USDGross      int64
	USDNet        int64
	USDRate       string
	USDRateSource string
	// AccessSource is the source of the entitlement the sale paid for (a ticket's payment
	// intent, a subscription's id; none for a tip): what its refund or lost dispute ends.
	AccessSource string
}

// CreatorPayment is a creator's Stripe Connect state.
type CreatorPayment struct {
	Country         string
	StripeAccountID string
	ChargesEnabled  bool
	PayoutsEnabled  bool
	StripeProductID string
}

// Payout is a transfer the operator made to a creator paid out manually.
type Payout struct {
	ID         string
	CreatorID  string
	Currency   string
	Amount     int64 // minor units, positive
	Reference  string
	PaidAt     time.Time
	RecordedBy string
	CreatedAt  time.Time
}

// Billing is the durable data of selling: country policies, prices, checkouts,
// entitlements, and the Stripe events booked.
type Billing interface {
	CountryPolicy(ctx context.Context, code string) (CountryPolicy, error)
	ListCountryPolicies(ctx context.Context) ([]CountryPolicy, error)
	CountryPoliciesByCurrency(ctx context.Context, currency string) ([]CountryPolicy, error)
	// PutCountryPolicy saves p and its audit entry in one transaction.
	PutCountryPolicy(ctx context.Context, p CountryPolicy, audit AuditEntry) error
	ListAudit(ctx context.Context, object string, limit int) ([]AuditEntry, error)

	SetCreatorPayment(ctx context.Context, creatorID string, p CreatorPayment) error
	CreatorPayment(ctx context.Context, creatorID string) (CreatorPayment, error)
	CreatorByStripeAccount(ctx context.Context, accountID string) (string, error)

	SetStreamAccess(ctx context.Context, streamID string, mode AccessMode) error
	PutStreamPrices(ctx context.Context, streamID string, prices []Price) error
	StreamPrices(ctx context.Context, streamID string) ([]Price, error)
	PutSubscriptionPrice(ctx context.Context, creatorID string, p Price) error
	SubscriptionPrices(ctx context.Context, creatorID string) ([]Price, error)

	CreateCheckout(ctx context.Context, c Checkout) error
	Checkout(ctx context.Context, id string) (Checkout, error)

	// ActiveEntitlement finds the viewer's active ticket for the stream (kind ticket) or
	// active, unexpired subscription to the creator (kind subscription).
	ActiveEntitlement(ctx context.Context, viewerID, kind, streamID, creatorID string, now time.Time) (Entitlement, error)
	EntitlementsOfStream(ctx context.Context, streamID string) ([]Entitlement, error)
	// SubscriptionFeeOf is the fee a subscription's invoices take, as last set (ok false
	// for a subscription livegate has not recorded).
	SubscriptionFeeOf(ctx context.Context, subscriptionID string) (bps int, ok bool, err error)

	// RevokedEntitlements returns those of ids that are revoked: what a node re-checks its
	// live viewers against, whatever happened to the fan-out.
	RevokedEntitlements(ctx context.Context, ids []string) ([]Entitlement, error)
	// PendingRevocations lists queued revocations not yet delivered, oldest first.
	PendingRevocations(ctx context.Context, limit int) ([]Revocation, error)
	// RevocationDelivered marks a queued revocation delivered.
	RevocationDelivered(ctx context.Context, id string, at time.Time) error

	// ApplyEvent runs apply in a transaction that also records the event id; an event
	// already recorded is not applied again and returns applied=false.
	ApplyEvent(ctx context.Context, eventID, eventType string, apply func(tx BillingTx) error) (applied bool, err error)
	// EventApplied reports whether an event id has been applied already.
	EventApplied(ctx context.Context, eventID string) (bool, error)
}

// BillingTx is what a webhook event may change, all inside one transaction.
type BillingTx interface {
	Checkout(id string) (Checkout, error)
	SetCheckoutState(id, state string) error
	// GrantEntitlement inserts e unless an entitlement with the same source exists (a
	// refund that came first leaves a revoked one behind); it reports whether e is
	// now active.
	GrantEntitlement(e Entitlement) (granted bool, err error)
	// RevokeEntitlement revokes the entitlement of source, or records a revoked
	// placeholder when it does not exist yet. It returns the entitlement as it now is and
	// whether this call ended an active one.
	RevokeEntitlement(source, reason string, at time.Time) (e Entitlement, wasActive bool, err error)
	// QueueRevocation records, in this transaction, that every node must drop the
	// entitlement's viewers (the outbox): committed with the revocation or not at all.
	QueueRevocation(entitlementID, reason string, at time.Time) error
	ExtendEntitlement(source string, until time.Time, at time.Time) (Entitlement, error)
	// ReopenEntitlement makes a subscription whose access a refund or lost dispute ended
	// active again until until, when a later invoice is paid; it reports whether it did.
	ReopenEntitlement(source string, until, at time.Time) (bool, error)
	EntitlementBySource(source string) (Entitlement, error)
	// AddLedger inserts e unless an entry of the same kind for the same Stripe object
	// exists; it reports whether it inserted.
	AddLedger(e LedgerEntry) (bool, error)
	SaleByPaymentIntent(pi string) (LedgerEntry, error)
	// TakenBack is what the ledger has refunded of a payment so far, and what it lost in
	// disputes (both positive).
	TakenBack(pi string) (refunded, disputed int64, err error)
	CountryPolicy(code string) (CountryPolicy, error)
	// AddPendingRefund keeps a refund whose sale is not recorded yet.
	AddPendingRefund(pi, refundID string, amount int64, eventID string, at time.Time) error
	TakePendingRefunds(pi string) ([]PendingRefund, error)
	SetCreatorPayment(creatorID string, p CreatorPayment) error
	CreatorByStripeAccount(accountID string) (string, error)
	CreatorPayment(creatorID string) (CreatorPayment, error)

	// RedeemPromoCode counts a paid checkout's reservation as redeemed; ReleasePromoCode
	// gives back one whose checkout failed or expired.
	RedeemPromoCode(id string) error
	ReleasePromoCode(id string) error
	// AddTip records a paid tip once per checkout; it reports whether it inserted.
	AddTip(t Tip) (bool, error)
	// MarkTipRefunded flags the tip paid by payment intent pi as refunded.
	MarkTipRefunded(pi string) error
	// SubscriptionFee is the fee a subscription's invoices take now, as last set.
	SubscriptionFee(subscriptionID string) (bps int, ok bool, err error)
	SetSubscriptionFee(subscriptionID, checkoutID string, bps int, at time.Time) error
	// EmitEvent queues a webhook out in this transaction (see Webhooks.EmitEvent).
	EmitEvent(ev OutboundEvent) error
	// USDRate is the latest configured rate of currency dated on or before day.
	USDRate(currency, day string) (rate string, ok bool, err error)
}

// Revocation is an entitlement revocation queued for delivery to every node.
type Revocation struct {
	ID            string
	EntitlementID string
	Reason        string
	CreatedAt     time.Time
}

// PendingRefund is a refund seen before its sale.
type PendingRefund struct {
	PaymentIntent string
	RefundID      string
	Amount        int64
	EventID       string
	At            time.Time
}
