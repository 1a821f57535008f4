package billing

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/stripe/stripe-go/v76"

	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/notify"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/store"
)

// ErrNotLive is a tip to a stream that is not live.
var ErrNotLive = problem.ErrStreamNotLive.With("tips are sent during a live stream")

// MaxTipMessage is the longest tip message, in characters.
const MaxTipMessage = 200

// TipOrder is a tip a viewer sends during a live stream.
type TipOrder struct {
	Viewer, Stream, Country string
	Amount                  int64 // minor units of the viewer's country's currency
	Message                 string
}

// CheckoutTip starts a tip's payment. The tip shows on the stream and lands on the
// ledger only when its payment's webhook is in.
func (s *Service) CheckoutTip(ctx context.Context, o TipOrder) (store.Checkout, error) {
	ctx, cancel := s.withBuyerBudget(ctx)
	defer cancel()
	msg := strings.TrimSpace(o.Message)
	if utf8.RuneCountInString(msg) > MaxTipMessage {
		return store.Checkout{}, &countries.FieldError{Field: "message", Reason: fmt.Sprintf("at most %d characters", MaxTipMessage)}
	}
	if strings.IndexFunc(msg, func(r rune) bool { return unicode.IsControl(r) }) >= 0 {
		return store.Checkout{}, &countries.FieldError{Field: "message", Reason: "no control characters or line breaks"}
	}
	st, err := s.st.Stream(ctx, o.Stream)
	if err != nil {
		return store.Checkout{}, err
	}
	if st.State != store.StateLive {
		return store.Checkout{}, fmt.Errorf("%w: stream %s is %s", ErrNotLive, st.ID, st.State)
	}
	pol, err := s.Sellable(ctx, o.Country)
	if err != nil {
		return store.Checkout{}, err
	}
	if !pol.TipsSold() {
		return store.Checkout{}, fmt.Errorf("%w: tips are not sold in %s", ErrNotForSale, o.Country)
	}
	cur, _ := money.Lookup(pol.Currency)
	if err := cur.CheckAmount(o.Amount); err != nil {
		return store.Checkout{}, &countries.FieldError{Field: "amount", Reason: err.Error()}
	}
	if !pol.TipInBounds(o.Amount) {
		return store.Checkout{}, &countries.FieldError{Field: "amount", Reason: fmt.Sprintf("a tip in %s is %s to %s", o.Country,
			cur.Format(pol.MinTip), cur.Format(pol.MaxTip))}
	}
	creator, err := s.st.Creator(ctx, st.CreatorID)
	if err != nil {
		return store.Checkout{}, err
	}
	off := Offer{Kind: store.KindTip, Country: o.Country, Currency: pol.Currency, Amount: o.Amount, Display: cur.Format(o.Amount)}
	return s.checkout(ctx, purchase{viewer: o.Viewer, kind: store.KindTip, streamID: st.ID, creator: creator, pol: pol, off: off,
		name: "Tip to " + creator.Name, message: msg})
}

// tipPaid records a paid tip, tells the stream and the platform, and books it.
func (h *eventTx) tipPaid(co store.Checkout, cs stripe.CheckoutSession, pi string) error {
	c := chargedBy(co, cs)
	tip := store.Tip{ID: store.NewID("tip"), CheckoutID: co.ID, StreamID: co.StreamID, CreatorID: co.CreatorID, ViewerID: co.ViewerID,
		Currency: c.Currency, Amount: c.Gross, Message: co.Message, PaymentIntent: pi, CreatedAt: h.now}
	added, err := h.tx.AddTip(tip)
	if err != nil {
		return err
	}
	if added {
		// The platform's own webhook names the tipper (its user id); public pages do not.
		ev := TipJSON(tip)
		ev["viewer_id"] = tip.ViewerID
		if err := h.emit(notify.TipReceived, co.ID, ev); err != nil {
			return err
		}
	}
	return h.sale(co, c, pi, pi, "")
}

// TipJSON is a tip as viewers' pages see it: never who sent it (the platform's user id
// is not for everyone watching), only what and when.
func TipJSON(t store.Tip) map[string]any {
	cur, _ := money.Lookup(t.Currency)
	return map[string]any{"tip_id": t.ID, "stream_id": t.StreamID, "creator_id": t.CreatorID,
		"currency": t.Currency, "amount": t.Amount, "display": cur.Format(t.Amount), "message": t.Message, "created_at": t.CreatedAt}
}
