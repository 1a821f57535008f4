package access

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/livegate/livegate/internal/billing"
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

// Decision is a viewer's right to watch a stream now.
type Decision struct {
	Viewer      string
	StreamID    string
	Country     string
	Entitlement string        // entitlement id, "free" or "preview"
	Preview     time.Duration // preview time left, for "preview"
}

// Entitlements is what the decision reads of the money plane's data.
type Entitlements interface {
	ActiveEntitlement(ctx context.Context, viewerID, kind, streamID, creatorID string, now time.Time) (store.Entitlement, error)
}

// PreviewClock tells how much preview a viewer has used.
type PreviewClock interface {
	PreviewUsed(ctx context.Context, viewerID, streamID string) (time.Duration, error)
}

// Decider answers "may this viewer watch this stream?".
type Decider struct {
	Entitlements Entitlements
	Billing      *billing.Service
	Previews     PreviewClock
}

// Decide applies, in order: free streams are open; an active ticket (ticket streams) or
// subscription (subscriber streams) opens; a viewer who could buy here may preview for the
// stream's preview allowance; otherwise payment is required (or the country cannot buy).
func (d *Decider) Decide(ctx context.Context, viewer string, st store.Stream, country string) (Decision, error) {
	now := time.Now()
	dec := Decision{Viewer: viewer, StreamID: st.ID, Country: country}
	if st.AccessMode == store.AccessFree {
		dec.Entitlement = "free"
		return dec, nil
	}
	if viewer == "" {
		return dec, ErrNoViewer
	}
	kind := store.KindTicket
	if st.AccessMode == store.AccessSubscribers {
		kind = store.KindSubscription
	}
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
		offer, _, err = d.Billing.TicketOffer(ctx, st, country)
	} else {
		offer, _, _, err = d.Billing.SubscriptionOffer(ctx, st.CreatorID, country)
		path = "/v1/creators/" + st.CreatorID + "/subscribe"
	}
	if err != nil {
		return dec, err // not sellable here (451) or not for sale (409)
	}
	if st.PreviewSeconds > 0 {
		used, err := d.Previews.PreviewUsed(ctx, viewer, st.ID)
		if err != nil {
			return dec, err
		}
		if left := time.Duration(st.PreviewSeconds)*time.Second - used; left >= minPreview {
			dec.Entitlement, dec.Preview = "preview", left
			return dec, nil
		}
	}
	return dec, &PaymentRequired{Offer: offer, CheckoutPath: path}
}
