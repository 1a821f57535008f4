package httpapi

// The catalog: what is live now and coming up, each stream with its creator and, where
// it is for sale in the viewer's country, its price in the viewer's currency. Public:
// it is what the catalog page and the viewer page show before anyone signs in.

import (
	"context"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/admission"
	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/store"
)

type catalogCreator struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type catalogPrice struct {
	Kind     string `json:"kind"` // ticket or subscription
	Currency string `json:"currency"`
	Amount   int64  `json:"amount"`
	Display  string `json:"display"`
}

type catalogEntry struct {
	ID         string         `json:"id"`
	Title      string         `json:"title"`
	State      string         `json:"state"`
	AccessMode string         `json:"access_mode"`
	Creator    catalogCreator `json:"creator"`
	// Price is set when the stream is sold in the viewer's country; ForSale is false for
	// a paid stream that is not (the country is not enabled, or has no price).
	Price    *catalogPrice `json:"price,omitempty"`
	ForSale  bool          `json:"for_sale"`
	WatchURL string        `json:"watch_url"`
}

// catalogLimit bounds each of the catalog's lists.
const catalogLimit = 100

// listCatalog answers GET /v1/catalog: live streams first, then upcoming ones.
func (a *api) listCatalog(w http.ResponseWriter, r *http.Request) {
	if a.limited(w, r, admission.Access, a.client(r)) {
		return
	}
	country := a.Resolver.Country(r)
	creators := map[string]catalogCreator{}
	out := []catalogEntry{}
	for _, state := range []store.StreamState{store.StateLive, store.StateScheduled} {
		streams, err := a.Store.ListStreams(r.Context(), store.StreamFilter{State: state, Limit: catalogLimit})
		if err != nil {
			a.storeError(w, r, "stream", err)
			return
		}
		for _, s := range streams {
			out = append(out, a.catalogEntry(r.Context(), s, country, creators))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"country": country, "streams": out})
}

// catalogStream answers GET /v1/catalog/{id}: one stream as the catalog shows it.
func (a *api) catalogStream(w http.ResponseWriter, r *http.Request) {
	if a.limited(w, r, admission.Access, a.client(r)) {
		return
	}
	s, err := a.Store.Stream(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	writeJSON(w, http.StatusOK, a.catalogEntry(r.Context(), s, a.Resolver.Country(r), map[string]catalogCreator{}))
}

func (a *api) catalogEntry(ctx context.Context, s store.Stream, country string, creators map[string]catalogCreator) catalogEntry {
	c, ok := creators[s.CreatorID]
	if !ok {
		c = catalogCreator{ID: s.CreatorID}
		if cr, err := a.Store.Creator(ctx, s.CreatorID); err == nil {
			c.Name = cr.Name
		}
		creators[s.CreatorID] = c
	}
	e := catalogEntry{ID: s.ID, Title: s.Title, State: string(s.State), AccessMode: string(s.AccessMode), Creator: c,
		WatchURL: strings.TrimRight(a.PublicURL, "/") + "/watch/" + s.ID}
	var off billing.Offer
	var err error
	switch s.AccessMode {
	case store.AccessFree:
		e.ForSale = true // nothing to buy: anyone may watch
		return e
	case store.AccessTicket:
		off, err = a.Billing.TicketOffer(ctx, s, country)
	default:
		off, err = a.Billing.SubscriptionOffer(ctx, s.CreatorID, country)
	}
	if err == nil {
		e.Price = &catalogPrice{Kind: off.Kind, Currency: off.Currency, Amount: off.Amount, Display: off.Display}
		e.ForSale = true
	}
	return e
}
