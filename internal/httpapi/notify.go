package httpapi

// Webhooks out: the platform's endpoints and the deliveries of events to them.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/notify"
	"github.com/livegate/livegate/internal/store"
)

func endpointJSON(e store.WebhookEndpoint, secret bool) map[string]any {
	types := e.EventTypes
	if types == nil {
		types = []string{}
	}
	m := map[string]any{"id": e.ID, "url": e.URL, "event_types": types, "enabled": e.Enabled, "created_at": e.CreatedAt}
	if secret {
		m["secret"] = e.Secret // shown once, at creation
	}
	return m
}

// createWebhookEndpoint registers a URL of the platform to post events to; the answer
// carries its signing secret, once.
func (a *api) createWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	var in struct {
		URL        string   `json:"url"`
		EventTypes []string `json:"event_types"`
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(in.URL) > 2048 {
		invalid(w, r, "url", "an absolute http or https URL")
		return
	}
	if a.Production && u.Scheme != "https" {
		invalid(w, r, "url", "a production node posts events over https only")
		return
	}
	if err := notify.CheckDestination(r.Context(), u, a.WebhookAllowNetworks); err != nil {
		invalid(w, r, "url", "a destination on the public internet: "+err.Error()+
			" (an operator admits a network of its own with --webhook-allow-networks)")
		return
	}
	for _, t := range in.EventTypes {
		if !notify.KnownType(t) {
			invalid(w, r, "event_types", "unknown event type "+strconv.Quote(t)+"; known: "+strings.Join(notify.Types, ", "))
			return
		}
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	e := store.WebhookEndpoint{ID: store.NewID("we"), URL: in.URL, Secret: "lgwhsec_" + hex.EncodeToString(b), EventTypes: in.EventTypes,
		Enabled: true, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := a.Store.CreateWebhookEndpoint(r.Context(), e); err != nil {
		a.storeError(w, r, "webhook-endpoint", err)
		return
	}
	a.Logger.Info("webhook endpoint added", "endpoint", e.ID, "url", e.URL, "actor", actor(r.Context()))
	writeJSON(w, http.StatusCreated, endpointJSON(e, true))
}

func (a *api) listWebhookEndpoints(w http.ResponseWriter, r *http.Request) {
	eps, err := a.Store.WebhookEndpoints(r.Context())
	if err != nil {
		a.storeError(w, r, "webhook-endpoint", err)
		return
	}
	out := make([]map[string]any, 0, len(eps))
	for _, e := range eps {
		out = append(out, endpointJSON(e, false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": out})
}

func (a *api) deleteWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	if err := a.Store.DeleteWebhookEndpoint(r.Context(), chi.URLParam(r, "id")); err != nil {
		a.storeError(w, r, "webhook-endpoint", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func deliveryJSON(d store.WebhookDelivery) map[string]any {
	m := map[string]any{"id": d.ID, "event_id": d.EventID, "event_type": d.EventType, "endpoint_id": d.EndpointID,
		"endpoint_url": d.EndpointURL, "state": d.State, "attempts": d.Attempts, "last_status": d.LastStatus,
		"last_error": d.LastError, "created_at": d.CreatedAt}
	if d.State == store.DeliveryPending {
		m["next_attempt_at"] = d.NextAttemptAt
	}
	if !d.DeliveredAt.IsZero() {
		m["delivered_at"] = d.DeliveredAt
	}
	return m
}

// listDeliveries lists webhook deliveries, newest first: ?state=, ?event_type=, ?event_id=, ?limit=.
func (a *api) listDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.DeliveryFilter{State: q.Get("state"), EventType: q.Get("event_type"), EventID: q.Get("event_id")}
	switch f.State {
	case "", store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed:
	default:
		invalid(w, r, "state", "pending, delivered or failed")
		return
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			invalid(w, r, "limit", "1 to 1000")
			return
		}
		f.Limit = n
	}
	ds, err := a.Store.Deliveries(r.Context(), f)
	if err != nil {
		a.storeError(w, r, "delivery", err)
		return
	}
	out := jsonEach(ds, deliveryJSON)
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out})
}

// getDelivery shows one delivery with the event's body as it is sent.
func (a *api) getDelivery(w http.ResponseWriter, r *http.Request) {
	d, err := a.Store.Delivery(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.storeError(w, r, "delivery", err)
		return
	}
	ev, err := a.Store.OutboundEvent(r.Context(), d.EventID)
	if err != nil {
		a.storeError(w, r, "delivery", err)
		return
	}
	m := deliveryJSON(d)
	m["payload"] = json.RawMessage(ev.Payload)
	writeJSON(w, http.StatusOK, m)
}

// replayDelivery sends a delivery's event to its endpoint again, as a new delivery.
func (a *api) replayDelivery(w http.ResponseWriter, r *http.Request) {
	d, err := a.Store.ReplayDelivery(r.Context(), chi.URLParam(r, "id"), time.Now())
	if err != nil {
		a.storeError(w, r, "delivery", err)
		return
	}
	if a.WebhooksWake != nil {
		a.WebhooksWake()
	}
	a.Logger.Info("webhook delivery replayed", "delivery", d.ID, "event", d.EventID, "actor", actor(r.Context()))
	writeJSON(w, http.StatusAccepted, deliveryJSON(d))
}
