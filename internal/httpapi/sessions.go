package httpapi

// Viewer sessions: a player's status, the operator's list and kick.

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/sessions"
)

// sessionStatus tells a player whether its session is live or why it ended.
func (a *api) sessionStatus(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	st := a.Gate.Store()
	if s, err := st.Get(r.Context(), id); err == nil {
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "state": "live", "stream_id": s.StreamID, "started_at": s.StartedAt})
		return
	} else if problem.Answer(w, r, err) { // the session store is down
		return
	}
	reason, err := st.Ended(r.Context(), id)
	if err != nil {
		problem.Answer(w, r, problem.ErrSessionMissing)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "state": "ended", "reason": reason})
}

func (a *api) listSessions(w http.ResponseWriter, r *http.Request) {
	list, err := a.Gate.Store().List(r.Context(), r.URL.Query().Get("stream"))
	if err != nil {
		problem.Answer(w, r, sessions.ErrUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": list})
}

// kickSession drops a viewer wherever in the fleet it is watching; with a ban in the
// body ({"ban": {"scope": "stream"|"creator"|"all", "duration": "24h", "reason": ...}})
// the viewer cannot come straight back.
func (a *api) kickSession(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	var in struct {
		Ban *struct {
			Scope    string    `json:"scope"`
			Until    time.Time `json:"until"`
			Duration string    `json:"duration"`
			Reason   string    `json:"reason"`
		} `json:"ban"`
	}
	if r.ContentLength != 0 && !a.decodeJSON(w, r, &in) {
		return
	}
	s, err := a.Gate.Store().Get(r.Context(), id)
	if errors.Is(err, sessions.ErrNotFound) {
		problem.Answer(w, r, problem.ErrSessionMissing)
		return
	}
	if err != nil {
		problem.Answer(w, r, sessions.ErrUnavailable)
		return
	}
	if in.Ban != nil {
		spec := banSpec{ViewerID: s.ViewerID, Until: in.Ban.Until, Duration: in.Ban.Duration, Reason: in.Ban.Reason}
		switch in.Ban.Scope {
		case "stream", "":
			spec.StreamID = s.StreamID
		case "creator":
			st, err := a.Store.Stream(r.Context(), s.StreamID)
			if err != nil {
				a.storeError(w, r, "stream", err)
				return
			}
			spec.CreatorID = st.CreatorID
		case "all":
		default:
			invalid(w, r, "ban.scope", "stream, creator or all")
			return
		}
		b, _, ok := a.ban(w, r, spec) // ends this session too, with the ban's reason
		if !ok {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "kicked": true, "stream_id": s.StreamID, "viewer_id": s.ViewerID, "ban": banJSON(b)})
		return
	}
	// The viewer sees that an operator ended the session, never which key did it.
	reason := sessions.ReasonKicked
	if err := a.Gate.Publish(r.Context(), sessions.Event{Kind: sessions.EventSession, SessionID: id, Reason: reason}); err != nil {
		problem.Answer(w, r, sessions.ErrUnavailable)
		return
	}
	a.Logger.Info("session kicked", "session", id, "stream", s.StreamID, "actor", actor(r.Context()))
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "kicked": true, "stream_id": s.StreamID, "viewer_id": s.ViewerID})
}
