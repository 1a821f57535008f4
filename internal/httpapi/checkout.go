package httpapi

// Checkout: buying tickets, subscriptions and tips (with gifts and promo codes), and the
// errors of selling.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/admission"
	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/store"
)

// moneyError maps the money plane's errors to problems: a field at fault is a 422, the
// rest declare their problem (billing's errors) or are the store's.
func (a *api) moneyError(w http.ResponseWriter, r *http.Request, err error) {
	if fe := (*countries.FieldError)(nil); errors.As(err, &fe) {
		invalid(w, r, fe.Field, fe.Error())
		return
	}
	a.storeError(w, r, "resource", err)
}

func (a *api) checkoutJSON(co store.Checkout) map[string]any {
	cur, _ := money.Lookup(co.Currency)
	m := map[string]any{"id": co.ID, "kind": co.Kind, "state": co.State, "checkout_url": co.URL, "country": co.Country,
		"currency": co.Currency, "amount": co.Amount, "display": cur.Format(co.Amount), "stream_id": co.StreamID,
		"creator_id": co.CreatorID, "dev_checkout": strings.HasPrefix(co.StripeSessionID, "dev_"),
		"list_amount": co.Amount + co.Discount, "discount": co.Discount}
	if co.RecipientID != "" {
		m["recipient_id"] = co.RecipientID
	}
	if co.Message != "" {
		m["message"] = co.Message
	}
	return m
}

// startCheckout runs one of billing's checkouts for the calling viewer in their country.
func (a *api) startCheckout(start func(ctx context.Context, viewer, id, country string) (store.Checkout, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.viewerCheckout(w, r, func(viewer string) (store.Checkout, error) { //nolint:contextcheck // the closure uses r.Context()
			return start(r.Context(), viewer, chi.URLParam(r, "id"), a.Resolver.Country(r))
		})
	}
}

func (a *api) getCheckout(w http.ResponseWriter, r *http.Request) {
	viewer, err := a.Viewers.Viewer(r)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	co, err := a.Store.Checkout(r.Context(), chi.URLParam(r, "id"))
	if err != nil || co.ViewerID != viewer {
		problem.Answer(w, r, errCheckoutNotFound)
		return
	}
	writeJSON(w, http.StatusOK, a.checkoutJSON(co))
}

// viewerCheckout runs the steps every viewer checkout shares: the rate limits, the
// viewer, and the answer; start does the buying.
func (a *api) viewerCheckout(w http.ResponseWriter, r *http.Request, start func(viewer string) (store.Checkout, error)) {
	// Each checkout creates a Stripe Checkout session: limited per client, and per viewer
	// across the fleet.
	if a.limited(w, r, admission.Checkout, a.client(r)) {
		return
	}
	viewer, err := a.Viewers.Viewer(r)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	if a.limited(w, r, admission.CheckoutViewer, viewer) {
		return
	}
	co, err := start(viewer)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, a.checkoutJSON(co))
}

// ticketCheckout buys a ticket: for the caller, or as a gift (recipient_id), with a
// promo code or not. The body is optional.
func (a *api) ticketCheckout(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RecipientID string `json:"recipient_id"`
		PromoCode   string `json:"promo_code"`
	}
	if r.ContentLength != 0 && !a.decodeJSON(w, r, &in) {
		return
	}
	a.viewerCheckout(w, r, func(viewer string) (store.Checkout, error) { //nolint:contextcheck // the closure uses r.Context()
		return a.Billing.BuyTicket(r.Context(), billing.TicketOrder{Viewer: viewer, Stream: chi.URLParam(r, "id"),
			Country: a.Resolver.Country(r), Recipient: strings.TrimSpace(in.RecipientID), PromoCode: strings.TrimSpace(in.PromoCode)})
	})
}

// tipCheckout sends a tip to a live stream's creator.
func (a *api) tipCheckout(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Amount  json.Number `json:"amount"`
		Message string      `json:"message"`
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	amount, err := in.Amount.Int64()
	if err != nil || amount <= 0 {
		invalid(w, r, "amount", "amount is a positive whole number of the currency's minor unit (2000 for MAD 20.00)")
		return
	}
	a.viewerCheckout(w, r, func(viewer string) (store.Checkout, error) { //nolint:contextcheck // the closure uses r.Context()
		return a.Billing.CheckoutTip(r.Context(), billing.TipOrder{Viewer: viewer, Stream: chi.URLParam(r, "id"),
			Country: a.Resolver.Country(r), Amount: amount, Message: in.Message})
	})
}
