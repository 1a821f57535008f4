// Package paywall decides whether a viewer may watch a stream now: free, by an active
// ticket or subscription, by what is left of a free preview, or only after paying (what,
// and for how much in the viewer's country). It sits beside billing so that the media
// path (access, whip, sfu) depends on no price, Stripe or GeoIP code: what it decides is
// an access.Right, which the gate turns into a playback token.
package paywall

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/livegate/livegate/internal/access"
	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/store"
)

// PaymentRequired is the answer for a viewer who must buy first: what, for how much.
type PaymentRequired struct {
	Offer        billing.Offer
	CheckoutPath string // POST here (with the viewer token) to start the purchase
}

func (p *PaymentRequired) Error() string {
	return fmt.Sprintf("payment required: %s %s", p.Offer.Kind, p.Offer.Display)
}

// Entitlements is what the decision reads of the money plane's data.
type Entitlements interface {
	ActiveEntitlement(ctx context.Context, viewerID, kind, streamID, creatorID string, now time.Time) (store.Entitlement, error)
}

// PreviewClock tells how much preview a viewer has used, and since when it remembers.
type PreviewClock interface {
	PreviewUsed(ctx context.Context, w sessions.Watch) (time.Duration, error)
	Epoch(ctx context.Context) (time.Time, error)
}

// Offers prices what a viewer in a country could buy, or says why it is not on sale
// (billing.ErrCountryNotEnabled and friends).
type Offers interface {
	TicketOffer(ctx context.Context, st store.Stream, country string) (billing.Offer, error)
	SubscriptionOffer(ctx context.Context, creatorID, country string) (billing.Offer, error)
}

// Bans are operators' bans of viewers.
type Bans interface {
	ActiveBan(ctx context.Context, viewerID, streamID, creatorID string, now time.Time) (store.Ban, error)
}

// Decider answers "may this viewer watch this stream?".
type Decider struct {
	Entitlements Entitlements
	Offers       Offers
	Previews     PreviewClock
	// Bans, when set, keeps a banned viewer out of every stream the ban covers, free
	// ones included, whatever the viewer bought.
	Bans Bans
}

// Decide applies, in order: free streams are open; an active ticket (ticket streams) or
// subscription (subscriber streams) opens; a viewer who could buy here may preview for the
// stream's preview allowance; otherwise payment is required (or the country cannot buy).
func (d *Decider) Decide(ctx context.Context, viewer string, st store.Stream, country string) (access.Right, error) {
	now := time.Now()
	dec := access.Right{Viewer: viewer, StreamID: st.ID, Country: country}
	if viewer != "" && d.Bans != nil {
		b, err := d.Bans.ActiveBan(ctx, viewer, st.ID, st.CreatorID, now)
		if err == nil {
			return dec, access.Banned(b.Until)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return dec, err
		}
	}
	if st.AccessMode == store.AccessFree {
		dec.Entitlement = sessions.EntitlementFree
		return dec, nil
	}
	if viewer == "" {
		return dec, access.ErrNoViewer
	}
	kind := purchaseKind(st)
	ent, err := d.Entitlements.ActiveEntitlement(ctx, viewer, kind, st.ID, st.CreatorID, now)
	if err == nil {
		dec.Entitlement = ent.ID
		return dec, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return dec, err
	}
	var offer billing.Offer
	path := "/v1/streams/" + st.ID + "/checkout"
	if kind == store.KindTicket {
		offer, err = d.Offers.TicketOffer(ctx, st, country)
	} else {
		offer, err = d.Offers.SubscriptionOffer(ctx, st.CreatorID, country)
		path = "/v1/creators/" + st.CreatorID + "/subscribe"
	}
	if err != nil {
		return dec, err // not sellable here (451) or not for sale (409)
	}
	if st.PreviewSeconds > 0 {
		used, err := d.Previews.PreviewUsed(ctx, sessions.Watch{Viewer: viewer, Stream: st.ID})
		if err != nil {
			return dec, err
		}
		epoch, err := d.Previews.Epoch(ctx)
		if err != nil {
			return dec, err
		}
		if sessions.PreviewsForgotten(st.StartedAt, epoch) {
			used = time.Duration(st.PreviewSeconds) * time.Second // it may all have been watched
		}
		if left := time.Duration(st.PreviewSeconds)*time.Second - used; left >= access.MinPreview {
			dec.Entitlement, dec.Preview = sessions.EntitlementPreview, left
			return dec, nil
		}
	}
	return dec, &PaymentRequired{Offer: offer, CheckoutPath: path}
}

// purchaseKind is what opens a paid stream: a ticket, or for subscriber streams a
// subscription to its creator.
func purchaseKind(st store.Stream) string {
	if st.AccessMode == store.AccessSubscribers {
		return store.KindSubscription
	}
	return store.KindTicket
}

// ErrPurchaseEnded means the ticket or subscription a right was granted on is no longer
// active: refunded, disputed or lapsed.
var ErrPurchaseEnded = errors.New("the purchase this access was granted on is no longer active")

// Holds re-checks, while st is being served, a right that Decide granted earlier with
// entitlement: a right on a purchase holds while the purchase is active; a free or
// preview right, which no purchase backs, holds. Its error is ErrPurchaseEnded, or the
// store's when it cannot tell.
func (d *Decider) Holds(ctx context.Context, viewer string, st store.Stream, entitlement string) error {
	if entitlement == sessions.EntitlementFree || entitlement == sessions.EntitlementPreview {
		return nil
	}
	_, err := d.Entitlements.ActiveEntitlement(ctx, viewer, purchaseKind(st), st.ID, st.CreatorID, time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return ErrPurchaseEnded
	}
	return err
}
