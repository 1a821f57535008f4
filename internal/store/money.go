package store

import (
	"context"
	"time"
)

// PromoCode is a discount a creator or operator hands out: a percentage or a fixed amount
// in one currency, on one stream's tickets or every ticket of a creator, until it expires
// or MaxRedemptions checkouts hold it.
type PromoCode struct {
	ID             string
	Code           string // upper case
	CreatorID      string
	StreamID       string // empty: every stream of the creator
	PercentOff     int    // 1..100, or zero with AmountOff
	AmountOff      int64  // in Currency's minor units
	Currency       string
	ExpiresAt      time.Time // zero: never
	MaxRedemptions int
	// Reserved counts the checkouts holding the code (open or paid), Redeemed the paid ones.
	Reserved       int
	Redeemed       int
	StripeCouponID string
	CreatedBy      string
	CreatedAt      time.Time
}

// Tip is a viewer's paid message to a creator during a stream, once its payment is in.
type Tip struct {
	ID            string
	CheckoutID    string
	StreamID      string
	CreatorID     string
	ViewerID      string
	Currency      string
	Amount        int64
	Message       string
	PaymentIntent string
	Refunded      bool
	CreatedAt     time.Time
}

// Promos is the durable data of promo codes.
type Promos interface {
	CreatePromoCode(ctx context.Context, p PromoCode) error
	PromoCode(ctx context.Context, id string) (PromoCode, error)
	PromoCodeByCode(ctx context.Context, code string) (PromoCode, error)
	// PromoCodes lists a creator's codes (every code for an empty creatorID).
	PromoCodes(ctx context.Context, creatorID string) ([]PromoCode, error)
	// ReservePromoCode takes one of the code's redemptions for a checkout, unless all are
	// taken or the code has expired at now: false then. Concurrent reservations never
	// exceed the cap.
	ReservePromoCode(ctx context.Context, id string, now time.Time) (bool, error)
	// ReleasePromoCode gives back a reservation whose checkout will not be paid.
	ReleasePromoCode(ctx context.Context, id string) error
}

// Tips is the durable data of paid tips, as the event streams read them.
type Tips interface {
	// TipsSince lists a stream's tips created at or after since, oldest first.
	TipsSince(ctx context.Context, streamID string, since time.Time, limit int) ([]Tip, error)
}

// Books is the ledger as it is read and corrected after booking: statements, payouts,
// the growth report, imported history and USD conversion.
type Books interface {
	Ledger(ctx context.Context, creatorID string) ([]LedgerEntry, error)
	ManualLedger(ctx context.Context) ([]LedgerEntry, error)
	// RecordPayout records a manual payout and its audit entry in one transaction. A
	// payout with the creator's reference already recorded is not recorded again: the
	// one recorded is returned with created false.
	RecordPayout(ctx context.Context, p Payout, audit AuditEntry) (rec Payout, created bool, err error)
	// Payouts lists the payouts to a creator (all creators: ""), oldest first.
	Payouts(ctx context.Context, creatorID string) ([]Payout, error)

	// LedgerBetween lists every ledger entry created in [from, to), oldest first.
	LedgerBetween(ctx context.Context, from, to time.Time) ([]LedgerEntry, error)
	// CreatorCountries maps every creator id to the creator's country.
	CreatorCountries(ctx context.Context) (map[string]string, error)
	// SeedLedger adds ledger entries as they are (history imported from elsewhere); an
	// entry of the same kind and Stripe object as one recorded is skipped. It reports how
	// many it added.
	SeedLedger(ctx context.Context, entries []LedgerEntry) (added int, err error)

	// PutUSDRates saves rates (replacing those of the same currency and day).
	PutUSDRates(ctx context.Context, rates []USDRate) error
	USDRates(ctx context.Context) ([]USDRate, error)
	// UnconvertedLedger lists the ledger entries with no USD rate, of currencies (all:
	// none given), oldest first.
	UnconvertedLedger(ctx context.Context, currencies []string) ([]LedgerEntry, error)
	// ConvertLedger writes the USD columns of entries that still have none and, when it
	// converted any, the audit entry audit makes of how many, in one transaction; an
	// entry converted meanwhile is left as it is. It reports how many it converted.
	ConvertLedger(ctx context.Context, entries []LedgerEntry, audit func(converted int) AuditEntry) (int, error)
}

// USDRate is what one major unit of Currency was worth in US dollars from Day
// (YYYY-MM-DD) on, as a decimal string.
type USDRate struct {
	Currency string
	Day      string
	Rate     string
}

// WebhookEndpoint is a URL of the embedding platform that livegate's events are posted
// to, signed with Secret.
type WebhookEndpoint struct {
	ID         string
	URL        string
	Secret     string
	EventTypes []string // empty: every type
	Enabled    bool
	CreatedAt  time.Time
}

// Wants says whether the endpoint takes events of type t.
func (e WebhookEndpoint) Wants(t string) bool {
	if !e.Enabled {
		return false
	}
	if len(e.EventTypes) == 0 {
		return true
	}
	for _, w := range e.EventTypes {
		if w == t || w == "*" {
			return true
		}
	}
	return false
}

// OutboundEvent is one thing that happened, as it is posted: Payload is the JSON body.
type OutboundEvent struct {
	ID        string
	Type      string
	Payload   []byte
	CreatedAt time.Time
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed" // gave up after the last retry; a replay sends it again
)

// WebhookDelivery is one event on its way to one endpoint.
type WebhookDelivery struct {
	ID            string
	EventID       string
	EventType     string
	EndpointID    string
	EndpointURL   string
	State         string
	Attempts      int
	NextAttemptAt time.Time
	LastStatus    int
	LastError     string
	CreatedAt     time.Time
	DeliveredAt   time.Time
}

// DeliveryFilter narrows Deliveries; zero values match everything.
type DeliveryFilter struct {
	State     string
	EventType string
	EventID   string
	Limit     int // 0: 100
}

// Webhooks is the durable data of webhooks out: endpoints, events and their deliveries,
// an outbox every node sends from.
type Webhooks interface {
	CreateWebhookEndpoint(ctx context.Context, e WebhookEndpoint) error
	WebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error)
	DeleteWebhookEndpoint(ctx context.Context, id string) error
	// EmitEvent records ev with one pending delivery per endpoint that wants it (none
	// wanting it: nothing is recorded). An event id already recorded is not recorded again
	// (emitting is idempotent).
	EmitEvent(ctx context.Context, ev OutboundEvent) error
	OutboundEvent(ctx context.Context, id string) (OutboundEvent, error)
	// DueDeliveries lists pending deliveries whose next attempt is due at now.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]WebhookDelivery, error)
	// ClaimDelivery moves a due delivery's next attempt to leaseUntil, so that no other
	// node sends it meanwhile; false if another node claimed it first.
	ClaimDelivery(ctx context.Context, id string, now, leaseUntil time.Time) (bool, error)
	// FinishAttempt saves an attempt's outcome: State, Attempts, NextAttemptAt,
	// LastStatus, LastError and DeliveredAt of d.
	FinishAttempt(ctx context.Context, d WebhookDelivery) error
	Deliveries(ctx context.Context, f DeliveryFilter) ([]WebhookDelivery, error)
	Delivery(ctx context.Context, id string) (WebhookDelivery, error)
	// ReplayDelivery queues the delivery's event again to the same endpoint, as a new
	// delivery due now.
	ReplayDelivery(ctx context.Context, id string, now time.Time) (WebhookDelivery, error)
}

// Discount is what the code takes off a list price: a percentage rounded half up, or
// the fixed amount, never the whole price (a sale is never free).
func (p PromoCode) Discount(list int64) int64 {
	d := p.AmountOff
	if p.PercentOff > 0 {
		d = (list*int64(p.PercentOff) + 50) / 100
	}
	return max(0, min(d, list-1))
}
