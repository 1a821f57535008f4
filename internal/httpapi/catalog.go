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
	c := a.newCatalog(r)
	out := []catalogEntry{}
	for _, state := range []store.StreamState{store.StateLive, store.StateScheduled} {
		streams, err := a.Store.ListStreams(r.Context(), store.StreamFilter{State: state, Limit: catalogLimit})
		if err != nil {
			a.storeError(w, r, "stream", err)
			return
		}
		for _, s := range streams {
			out = append(out, c.entry(r.Context(), s))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"country": c.country, "streams": out})
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
	writeJSON(w, http.StatusOK, a.newCatalog(r).entry(r.Context(), s))
}

// catalog builds the entries of one request. What is the same for every stream of the
// request is looked up once: whether anything is sold in the viewer's country, each
// creator's name and subscription offer.
type catalog struct {
	a        *api
	country  string
	sellable bool
	creators map[string]catalogCreator
	subs     map[string]*catalogPrice // by creator; nil: not for sale here
}

func (a *api) newCatalog(r *http.Request) *catalog {
	country := a.Resolver.Country(r)
	_, err := a.Billing.Sellable(r.Context(), country)
	return &catalog{a: a, country: country, sellable: err == nil, creators: map[string]catalogCreator{},
		subs: map[string]*catalogPrice{}}
}

func (c *catalog) entry(ctx context.Context, s store.Stream) catalogEntry {
	cr, ok := c.creators[s.CreatorID]
	if !ok {
		cr = catalogCreator{ID: s.CreatorID}
		if got, err := c.a.Store.Creator(ctx, s.CreatorID); err == nil {
			cr.Name = got.Name
		}
		c.creators[s.CreatorID] = cr
	}
	e := catalogEntry{ID: s.ID, Title: s.Title, State: string(s.State), AccessMode: string(s.AccessMode), Creator: cr,
		WatchURL: strings.TrimRight(c.a.PublicURL, "/") + "/watch/" + s.ID}
	switch {
	case s.AccessMode == store.AccessFree:
		e.ForSale = true // nothing to buy: anyone may watch
	case !c.sellable: // paid live is not on in the viewer's country: no price to look up
	case s.AccessMode == store.AccessTicket:
		if off, err := c.a.Billing.TicketOffer(ctx, s, c.country); err == nil {
			e.Price = price(off)
		}
	default:
		p, ok := c.subs[s.CreatorID]
		if !ok {
			if off, err := c.a.Billing.SubscriptionOffer(ctx, s.CreatorID, c.country); err == nil {
				p = price(off)
			}
			c.subs[s.CreatorID] = p
		}
		e.Price = p
	}
	if e.Price != nil {
		e.ForSale = true
	}
	return e
}

func price(off billing.Offer) *catalogPrice {
	return &catalogPrice{Kind: off.Kind, Currency: off.Currency, Amount: off.Amount, Display: off.Display}
}
