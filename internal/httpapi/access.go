package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/paywall"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/store"
)

// streamAccess is the single "may I watch?" call: a playback token and the WHEP URL, or
// 402 with what to buy and for how much, or 451 where paid live is not available.
func (a *api) streamAccess(w http.ResponseWriter, r *http.Request) {
	st, err := a.Store.Stream(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	if st.State == store.StateEnded {
		problem.Write(w, r, http.StatusConflict, "stream-ended", "Stream has ended", "")
		return
	}
	viewer := ""
	if r.Header.Get("Authorization") != "" || st.AccessMode != store.AccessFree {
		if viewer, err = a.Viewers.Viewer(r); err != nil {
			a.moneyError(w, r, err)
			return
		}
	}
	country := a.Resolver.Country(r)
	right, err := a.Decider.Decide(r.Context(), viewer, st, country)
	var pr *paywall.PaymentRequired
	switch {
	case errors.As(err, &pr):
		problem.WriteDetails(w, r, problem.Details{Type: problem.Type("payment-required"), Title: "Payment required",
			Status: http.StatusPaymentRequired, Detail: fmt.Sprintf("buy a %s for %s to watch", pr.Offer.Kind, pr.Offer.Display),
			Checkout: map[string]string{"method": "POST", "href": pr.CheckoutPath},
			Price:    map[string]any{"kind": pr.Offer.Kind, "currency": pr.Offer.Currency, "amount": pr.Offer.Amount, "display": pr.Offer.Display, "country": pr.Offer.Country}})
		return
	case err != nil:
		a.moneyError(w, r, err)
		return
	}
	grant, err := a.Gate.Grant(right)
	if err != nil {
		a.Logger.Error("grant access", "stream", st.ID, "err", err)
		problem.Write(w, r, http.StatusInternalServerError, "internal", "Internal error", "")
		return
	}
	out := map[string]any{"playback_token": grant.Token, "expires_at": grant.ExpiresAt.UTC(), "session_id": grant.SessionID,
		"whep_url": strings.TrimRight(a.PublicURL, "/") + "/whep/" + st.ID, "access": string(st.AccessMode), "country": country}
	if right.Entitlement == sessions.EntitlementPreview {
		out["access"] = "preview"
		out["preview_seconds_left"] = int(right.Preview.Seconds())
	}
	writeJSON(w, http.StatusOK, out)
}

// sessionStatus tells a player whether its session is live or why it ended.
func (a *api) sessionStatus(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	st := a.Gate.Store()
	if s, err := st.Get(r.Context(), id); err == nil {
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "state": "live", "stream_id": s.StreamID, "started_at": s.StartedAt})
		return
	} else if errors.Is(err, sessions.ErrUnavailable) {
		problem.Unavailable(w, r, "Session store unavailable")
		return
	}
	reason, err := st.Ended(r.Context(), id)
	if err != nil {
		problem.Write(w, r, http.StatusNotFound, "session-not-found", "No such session", "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "state": "ended", "reason": reason})
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
	if errors.Is(err, sessions.ErrUnavailable) {
		problem.Unavailable(w, r, "Counts unavailable")
		return
	}
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// streamStatsEvents streams the counts as server-sent events, once a second when they
// change, until the client leaves or the node drains.
func (a *api) streamStatsEvents(w http.ResponseWriter, r *http.Request) {
	first, err := a.stats(r)
	if err != nil && !errors.Is(err, sessions.ErrUnavailable) {
		a.storeError(w, r, "stream", err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		problem.Write(w, r, http.StatusInternalServerError, "internal", "Streaming unsupported", "")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(s sessions.Stats) {
		b, _ := json.Marshal(s)
		fmt.Fprintf(w, "event: stats\ndata: %s\n\n", b)
		flusher.Flush()
	}
	last := first
	send(first)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
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
	viewer, err := a.Viewers.Viewer(r)
	if err != nil {
		a.moneyError(w, r, err)
		return
	}
	id := chi.URLParam(r, "id")
	if _, err := a.Store.Stream(r.Context(), id); err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	added, err := a.Gate.Store().Collect(r.Context(), id, viewer)
	if err != nil {
		problem.Unavailable(w, r, "Cannot record the collect now")
		return
	}
	s, _ := a.Gate.Store().Stats(r.Context(), id)
	writeJSON(w, http.StatusOK, map[string]any{"collected": true, "new": added, "collects": s.Collects})
}

func (a *api) listSessions(w http.ResponseWriter, r *http.Request) {
	list, err := a.Gate.Store().List(r.Context(), r.URL.Query().Get("stream"))
	if err != nil {
		problem.Unavailable(w, r, "Session store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": list})
}

// kickSession drops a viewer wherever in the fleet it is watching.
func (a *api) kickSession(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	s, err := a.Gate.Store().Get(r.Context(), id)
	if errors.Is(err, sessions.ErrNotFound) {
		problem.Write(w, r, http.StatusNotFound, "session-not-found", "No such session", "")
		return
	}
	if err != nil {
		problem.Unavailable(w, r, "Session store unavailable")
		return
	}
	// The viewer sees that an operator ended the session, never which key did it.
	reason := "kicked by an operator"
	if err := a.Gate.Publish(r.Context(), sessions.Event{Kind: sessions.EventSession, SessionID: id, Reason: reason}); err != nil {
		problem.Unavailable(w, r, "Session store unavailable")
		return
	}
	a.Logger.Info("session kicked", "session", id, "stream", s.StreamID, "actor", actor(r.Context()))
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "kicked": true, "stream_id": s.StreamID, "viewer_id": s.ViewerID})
}

// patchStream changes a stream's title-independent access rules: preview allowance and
// concurrent-session cap.
func (a *api) patchStream(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	st, err := a.Store.Stream(r.Context(), id)
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	var in struct {
		PreviewSeconds *int    `json:"preview_seconds"`
		MaxSessions    *int    `json:"max_sessions"`
		SessionPolicy  *string `json:"session_policy"`
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	if in.PreviewSeconds != nil {
		st.PreviewSeconds = *in.PreviewSeconds
	}
	if in.MaxSessions != nil {
		st.MaxSessions = *in.MaxSessions
	}
	if in.SessionPolicy != nil {
		st.SessionPolicy = *in.SessionPolicy
	}
	if field, msg := validAccessRules(st); field != "" {
		invalid(w, r, field, msg)
		return
	}
	if err := a.Store.UpdateStreamAccess(r.Context(), id, st.PreviewSeconds, st.MaxSessions, st.SessionPolicy); err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	writeJSON(w, http.StatusOK, a.streamJSON(st))
}

func validAccessRules(st store.Stream) (field, msg string) {
	switch {
	case st.PreviewSeconds < 0 || st.PreviewSeconds > 3600:
		return "preview_seconds", "preview_seconds must be 0 to 3600"
	case st.MaxSessions < 0 || st.MaxSessions > 100:
		return "max_sessions", "max_sessions must be 0 (no cap) to 100"
	case st.SessionPolicy != store.PolicyReject && st.SessionPolicy != store.PolicyReplace:
		return "session_policy", `session_policy must be "reject" or "replace"`
	}
	return "", ""
}

var devLoginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>livegate development login</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto}.warn{background:#fee;border:1px solid #c00;padding:1rem}
code{word-break:break-all;background:#f4f4f4;padding:.2rem}</style></head>
<body><p class="warn"><strong>Development login.</strong> In production the platform that embeds livegate signs
its viewers' tokens; this page exists only on a development node.</p>
<form method="post" action="/dev/login"><label>Viewer id <input name="viewer_id" value="{{.Viewer}}" required maxlength="200"></label>
<button type="submit">Log in</button></form>
{{if .Token}}<p>Viewer token for <strong>{{.Viewer}}</strong> (1 hour), stored in localStorage as <code>livegate_viewer_token</code>:</p>
<p><code id="token">{{.Token}}</code></p>
<script>localStorage.setItem("livegate_viewer_token", document.getElementById("token").textContent)</script>{{end}}
</body></html>`))

// devLogin mints a viewer token from a form, for trying paid streams in a browser.
func (a *api) devLogin(w http.ResponseWriter, r *http.Request) {
	data := map[string]string{}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		viewer := strings.TrimSpace(r.PostFormValue("viewer_id"))
		if viewer == "" || len(viewer) > 200 {
			invalid(w, r, "viewer_id", "viewer_id must be 1 to 200 characters")
			return
		}
		tok, err := a.Viewers.Mint(viewer, time.Hour)
		if err != nil {
			problem.Write(w, r, http.StatusConflict, "cannot-mint", "Cannot mint viewer tokens", err.Error())
			return
		}
		data["Viewer"], data["Token"] = viewer, tok
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = devLoginPage.Execute(w, data)
}
