package httpapi

import (
	"context"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// Store is the durable data the API reads and edits itself. Selling, booking and the
// books go through billing and ledger, which declare their own.
type Store interface {
	// Streams and creators.
	CreateCreator(ctx context.Context, c store.Creator) error
	Creator(ctx context.Context, id string) (store.Creator, error)
	CreateStream(ctx context.Context, s store.Stream) error
	Stream(ctx context.Context, id string) (store.Stream, error)
	ListStreams(ctx context.Context, f store.StreamFilter) ([]store.Stream, error)
	UpdateStreamAccess(ctx context.Context, id string, previewSeconds, maxSessions int, policy string) error
	UpdateStreamRecording(ctx context.Context, id string, record bool, window, retention time.Duration) error
	Recordings(ctx context.Context, streamID string) ([]store.Recording, error)

	// Money the API shows (selling and its changes go through billing).
	CountryPolicy(ctx context.Context, code string) (store.CountryPolicy, error)
	ListCountryPolicies(ctx context.Context) ([]store.CountryPolicy, error)
	ListAudit(ctx context.Context, object string, limit int) ([]store.AuditEntry, error)
	StreamPrices(ctx context.Context, streamID string) ([]store.Price, error)
	Checkout(ctx context.Context, id string) (store.Checkout, error)
	TipsSince(ctx context.Context, streamID string, since time.Time, limit int) ([]store.Tip, error)
	Payouts(ctx context.Context, creatorID string) ([]store.Payout, error)
	USDRates(ctx context.Context) ([]store.USDRate, error)

	// Bans.
	CreateBan(ctx context.Context, b store.Ban, audit store.AuditEntry) error
	LiftBan(ctx context.Context, id string, at time.Time, audit store.AuditEntry) (store.Ban, error)
	ListBans(ctx context.Context, viewerID string, all bool, now time.Time) ([]store.Ban, error)

	// Webhooks out.
	CreateWebhookEndpoint(ctx context.Context, e store.WebhookEndpoint) error
	WebhookEndpoints(ctx context.Context) ([]store.WebhookEndpoint, error)
	DeleteWebhookEndpoint(ctx context.Context, id string) error
	OutboundEvent(ctx context.Context, id string) (store.OutboundEvent, error)
	Deliveries(ctx context.Context, f store.DeliveryFilter) ([]store.WebhookDelivery, error)
	Delivery(ctx context.Context, id string) (store.WebhookDelivery, error)
	ReplayDelivery(ctx context.Context, id string, now time.Time) (store.WebhookDelivery, error)
}
