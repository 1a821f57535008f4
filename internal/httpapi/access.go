package httpapi

// Watching: the "may I watch?" call, public counts, collects.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/access"
	"github.com/livegate/livegate/internal/admission"
	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/paywall"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/store"
)

// streamAccess is the single "may I watch?" call: a playback token and the WHEP URL, or
// 402 with what to buy and for how much, or 451 where paid live is not available.
func (a *api) streamAccess(w http.ResponseWriter, r *http.Request) {
	if a.limited(w, r, admission.Access, a.client(r)) {
		return
	}
	st, err := a.Store.Stream(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	if st.State == store.StateEnded {
		problem.Answer(w, r, problem.ErrStreamEnded)
		return
	}
	right, country, ok := a.decide(w, r, st, "watch")
	if !ok {
		return
	}
	grant, err := a.Gate.Grant(right)
	if err != nil {
		a.Logger.Error("grant access", "stream", st.ID, "err", err)
		problem.Answer(w, r, problem.ErrInternal)
		return
	}
	out := map[string]any{"playback_token": grant.Token, "expires_at": grant.ExpiresAt.UTC(), "session_id": grant.SessionID,
		"whep_url": strings.TrimRight(a.PublicURL, "/") + "/whep/" + st.ID, "access": string(st.AccessMode), "country": country}
	if right.Entitlement == sessions.EntitlementPreview {
		out["access"] = "preview"
		out["preview_seconds_left"] = int(right.Preview.Seconds())
	}
	if a.Fleet != nil {
		// Where a player goes if this node goes away: the fleet's other nodes, least
		// loaded first. Its session expires here; a new /access there opens another.
		out["other_nodes"] = a.otherNodes(r.Context())
	}
	writeJSON(w, http.StatusOK, out)
}

// decide is the paywall's answer for the calling viewer (none needed for a free stream)
// in their country; when it is no, it has written the refusal: 402 with what to buy
// "to " + verb, 451 where paid live is not sold, or the viewer's token refused.
func (a *api) decide(w http.ResponseWriter, r *http.Request, st store.Stream, verb string) (access.Right, string, bool) {
	viewer := ""
	if r.Header.Get("Authorization") != "" || st.AccessMode != store.AccessFree {
		var err error
		if viewer, err = a.Viewers.Viewer(r); err != nil {
			a.moneyError(w, r, err)
			return access.Right{}, "", false
		}
		if a.limited(w, r, admission.AccessViewer, viewer) {
			return access.Right{}, "", false
		}
	}
	country := a.Resolver.Country(r)
	right, err := a.Decider.Decide(r.Context(), viewer, st, country)
	var pr *paywall.PaymentRequired
	switch {
	case errors.As(err, &pr):
		problem.Answer(w, r, errPaymentRequired.With(fmt.Sprintf("buy a %s for %s to %s", pr.Offer.Kind, pr.Offer.Display, verb)).Offer(
			map[string]string{"method": "POST", "href": pr.CheckoutPath},
			map[string]any{"kind": pr.Offer.Kind, "currency": pr.Offer.Currency, "amount": pr.Offer.Amount, "display": pr.Offer.Display, "country": pr.Offer.Country}))
		return right, country, false
	case err != nil:
		a.moneyError(w, r, err)
		return right, country, false
	}
	return right, country, true
}

func (a *api) stats(r *http.Request) (sessions.Stats, error) {
	id := chi.URLParam(r, "id")
	if _, err := a.Store.Stream(r.Context(), id); err != nil {
		return sessions.Stats{}, err
	}
	return a.Gate.Store().Stats(r.Context(), id)
}

// streamStats is public: current and unique viewers, collects.
func (a *api) streamStats(w http.ResponseWriter, r *http.Request) {
	s, err := a.stats(r)
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// eventWriteTimeout bounds writing one server-sent event.
const eventWriteTimeout = 10 * time.Second

// streamStatsEvents streams the counts as server-sent events, once a second when they
// change, until the client leaves or the node drains.
func (a *api) streamStatsEvents(w http.ResponseWriter, r *http.Request) {
	first, err := a.stats(r)
	if err != nil && !errors.Is(err, sessions.ErrUnavailable) {
		a.storeError(w, r, "stream", err)
		return
	}
	if a.EventStreams != nil {
		release, err := a.EventStreams.Open(a.client(r))
		if err != nil {
			problem.Answer(w, r, err)
			return
		}
		defer release()
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		problem.Answer(w, r, problem.ErrInternal)
		return
	}
	// An event stream outlives the server's read and write timeouts on purpose; each
	// event gets its own write deadline instead, so a client that stops reading is cut.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(s sessions.Stats) {
		_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		b, _ := json.Marshal(s)
		fmt.Fprintf(w, "event: stats\ndata: %s\n\n", b)
		flusher.Flush()
	}
	last := first
	send(first)
	// Paid tips arrive on the same stream, each once, as soon as their payment is in.
	var tips <-chan store.Tip
	if a.Tips != nil {
		ch, stop := a.Tips.Subscribe(chi.URLParam(r, "id")) //nolint:contextcheck // a subscription ended by stop, not a call
		defer stop()
		tips = ch
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case t := <-tips:
			_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
			b, _ := json.Marshal(billing.TipJSON(t))
			fmt.Fprintf(w, "event: tip\nid: %s\ndata: %s\n\n", t.ID, b)
			flusher.Flush()
		case <-tick.C:
			if !a.Ready() {
				return
			}
			s, err := a.stats(r)
			if err == nil && s != last {
				send(s)
				last = s
			}
		}
	}
}

// collect records a viewer's collect of a stream, once per viewer.
func (a *api) collect(w http.ResponseWriter, r *http.Request) {
	if a.limited(w, r, admission.Collect, a.client(r)) {
		return
	}
	viewer, err := a.Viewers.Viewer(r)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	if a.limited(w, r, admission.CollectViewer, viewer) {
		return
	}
	id := chi.URLParam(r, "id")
	if _, err := a.Store.Stream(r.Context(), id); err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	added, err := a.Gate.Store().Collect(r.Context(), sessions.Watch{Viewer: viewer, Stream: id})
	if err != nil {
		problem.Answer(w, r, problem.ErrUnavailable.With("cannot record the collect now: retry shortly"))
		return
	}
	s, _ := a.Gate.Store().Stats(r.Context(), id)
	writeJSON(w, http.StatusOK, map[string]any{"collected": true, "new": added, "collects": s.Collects})
}

// otherNodes lists the public URLs of the fleet's other live nodes, those with room and
// least loaded first.
func (a *api) otherNodes(ctx context.Context) []string {
	out := []string{}
	nodes, err := a.Fleet.Others(ctx)
	if err != nil {
		return out
	}
	for _, n := range nodes {
		out = append(out, strings.TrimRight(n.URL, "/"))
	}
	return out
}
