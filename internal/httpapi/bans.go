package httpapi

// Bans: an operator keeps a viewer out of a stream, a creator's streams or every stream
// until a time. A ban ends the viewer's sessions it covers on every node at once, and
// /access and every WHEP join refuse the viewer until it ends (a kick alone does not:
// the viewer gets a new token straight away).

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/store"
)

// maxBan is the longest ban: long enough for anything an operator means, short enough
// that a typo in a year is caught.
const maxBan = 10 * 365 * 24 * time.Hour

// banSpec is a ban as the API takes it: until a time, or for a duration.
type banSpec struct {
	ViewerID  string    `json:"viewer_id"`
	StreamID  string    `json:"stream_id"`
	CreatorID string    `json:"creator_id"`
	Until     time.Time `json:"until"`
	Duration  string    `json:"duration"` // e.g. "24h"
	Reason    string    `json:"reason"`
}

func banJSON(b store.Ban) map[string]any {
	scope := "all"
	switch {
	case b.StreamID != "":
		scope = "stream"
	case b.CreatorID != "":
		scope = "creator"
	}
	m := map[string]any{"id": b.ID, "viewer_id": b.ViewerID, "scope": scope, "stream_id": b.StreamID, "creator_id": b.CreatorID,
		"until": b.Until, "reason": b.Reason, "created_by": b.CreatedBy, "created_at": b.CreatedAt, "active": b.Applies(b.StreamID, b.CreatorID, time.Now())}
	if !b.LiftedAt.IsZero() {
		m["lifted_at"] = b.LiftedAt
	}
	return m
}

// ban records spec and ends the sessions it covers; it answers the problem itself and
// reports false when it could not.
func (a *api) ban(w http.ResponseWriter, r *http.Request, spec banSpec) (store.Ban, int, bool) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	spec.ViewerID, spec.Reason = strings.TrimSpace(spec.ViewerID), strings.TrimSpace(spec.Reason)
	until := spec.Until
	if spec.Duration != "" {
		d, err := time.ParseDuration(spec.Duration)
		if err != nil || d <= 0 {
			invalid(w, r, "duration", "a positive duration, e.g. 24h")
			return store.Ban{}, 0, false
		}
		until = now.Add(d)
	}
	switch {
	case spec.ViewerID == "" || len(spec.ViewerID) > 200 || strings.HasPrefix(spec.ViewerID, "anon:"):
		invalid(w, r, "viewer_id", "the viewer's id as the platform's tokens name it")
		return store.Ban{}, 0, false
	case spec.StreamID != "" && spec.CreatorID != "":
		invalid(w, r, "stream_id", "one stream, or one creator's streams, or neither (every stream)")
		return store.Ban{}, 0, false
	case until.IsZero() || !until.After(now) || until.Sub(now) > maxBan:
		invalid(w, r, "until", "when the ban ends: in the future, within ten years (or a duration)")
		return store.Ban{}, 0, false
	case len(spec.Reason) > 200 || strings.IndexFunc(spec.Reason, unicode.IsControl) >= 0:
		invalid(w, r, "reason", "at most 200 characters, no control characters")
		return store.Ban{}, 0, false
	}
	if spec.StreamID != "" {
		if _, err := a.Store.Stream(r.Context(), spec.StreamID); err != nil {
			a.storeError(w, r, "stream", err)
			return store.Ban{}, 0, false
		}
	}
	if spec.CreatorID != "" {
		if _, err := a.Store.Creator(r.Context(), spec.CreatorID); err != nil {
			a.storeError(w, r, "creator", err)
			return store.Ban{}, 0, false
		}
	}
	b := store.Ban{ID: store.NewID("ban"), ViewerID: spec.ViewerID, StreamID: spec.StreamID, CreatorID: spec.CreatorID,
		Until: until.UTC().Truncate(time.Microsecond), Reason: spec.Reason, CreatedBy: actor(r.Context()), CreatedAt: now}
	after, _ := json.Marshal(banJSON(b))
	if err := a.Store.CreateBan(r.Context(), b, store.AuditEntry{ID: store.NewID("aud"), Object: "ban:" + b.ViewerID,
		Actor: b.CreatedBy, At: now, Before: "{}", After: string(after)}); err != nil {
		a.storeError(w, r, "ban", err)
		return store.Ban{}, 0, false
	}
	ended, err := a.endBannedSessions(r.Context(), b)
	if err != nil {
		// The ban holds (every join checks it); what is playing now ends at the next try.
		a.Logger.Warn("end a banned viewer's sessions", "ban", b.ID, "err", err)
	}
	a.Logger.Info("viewer banned", "ban", b.ID, "viewer", b.ViewerID, "stream", b.StreamID, "creator", b.CreatorID,
		"until", b.Until, "sessions_ended", ended, "actor", b.CreatedBy)
	return b, ended, true
}

// endBannedSessions kicks the live sessions a ban covers, on every node.
func (a *api) endBannedSessions(ctx context.Context, b store.Ban) (int, error) {
	list, err := a.Gate.Store().List(ctx, b.StreamID)
	if err != nil {
		return 0, err
	}
	creators := map[string]string{} // stream -> creator
	ended := 0
	for _, s := range list {
		if s.ViewerID != b.ViewerID {
			continue
		}
		creator, ok := creators[s.StreamID]
		if !ok {
			if st, err := a.Store.Stream(ctx, s.StreamID); err == nil {
				creator = st.CreatorID
			}
			creators[s.StreamID] = creator
		}
		if !b.Applies(s.StreamID, creator, time.Now()) {
			continue
		}
		if err := a.Gate.Publish(ctx, sessions.Event{Kind: sessions.EventSession, SessionID: s.ID, Reason: sessions.ReasonBanned}); err != nil {
			return ended, err
		}
		ended++
	}
	return ended, nil
}

// createBan answers POST /v1/admin/bans.
func (a *api) createBan(w http.ResponseWriter, r *http.Request) {
	var in banSpec
	if !a.decodeJSON(w, r, &in) {
		return
	}
	b, ended, ok := a.ban(w, r, in)
	if !ok {
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"ban": banJSON(b), "sessions_ended": ended})
}

// listBans answers GET /v1/admin/bans[?viewer_id=][&all=true].
func (a *api) listBans(w http.ResponseWriter, r *http.Request) {
	bans, err := a.Store.ListBans(r.Context(), r.URL.Query().Get("viewer_id"), r.URL.Query().Get("all") == "true", time.Now())
	if err != nil {
		a.storeError(w, r, "bans", err)
		return
	}
	out := jsonEach(bans, banJSON)
	writeJSON(w, http.StatusOK, map[string]any{"bans": out})
}

// liftBan answers DELETE /v1/admin/bans/{id}: the ban ends now.
func (a *api) liftBan(w http.ResponseWriter, r *http.Request) {
	now := time.Now().UTC()
	id := chi.URLParam(r, "id")
	b, err := a.Store.LiftBan(r.Context(), id, now, store.AuditEntry{ID: store.NewID("aud"), Object: "ban-lifted:" + id,
		Actor: actor(r.Context()), At: now, Before: "{}", After: `{"lifted":true}`})
	if errors.Is(err, store.ErrNotFound) {
		problem.Answer(w, r, errBanNotFound)
		return
	}
	if err != nil {
		a.storeError(w, r, "ban", err)
		return
	}
	a.Logger.Info("ban lifted", "ban", b.ID, "viewer", b.ViewerID, "actor", actor(r.Context()))
	writeJSON(w, http.StatusOK, map[string]any{"ban": banJSON(b)})
}
