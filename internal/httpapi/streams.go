package httpapi

// Streams: create, list, read, end; access rules and ticket prices.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/sfu"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/streams"
	"github.com/livegate/livegate/internal/whip"
)

type streamJSON struct {
	ID             string `json:"id"`
	CreatorID      string `json:"creator_id"`
	Title          string `json:"title"`
	AccessMode     string `json:"access_mode"`
	PreviewSeconds int    `json:"preview_seconds"`
	MaxSessions    int    `json:"max_sessions"`
	SessionPolicy  string `json:"session_policy"`
	// Record says the stream is recorded for replays; its buyers may replay it for
	// ReplayWindowSeconds after it ends, and the recording is kept RetentionSeconds.
	Record              bool       `json:"record"`
	ReplayWindowSeconds int64      `json:"replay_window_seconds"`
	RetentionSeconds    int64      `json:"retention_seconds"`
	State               string     `json:"state"`
	CreatedAt           time.Time  `json:"created_at"`
	StartedAt           *time.Time `json:"started_at,omitempty"`
	EndedAt             *time.Time `json:"ended_at,omitempty"`
	WHIPURL             string     `json:"whip_url"`
	WHEPURL             string     `json:"whep_url"`
	Viewers             int        `json:"viewers"`
	// Publisher is the encoder's connection while the stream is live on this node:
	// "connected", or "reconnecting" (it dropped; the stream stays live, viewers
	// attached, until ReconnectBy).
	Publisher   string     `json:"publisher,omitempty"`
	ReconnectBy *time.Time `json:"reconnect_by,omitempty"`
	// Origin is, in a fleet, the node the encoder is connected to.
	Origin string `json:"origin,omitempty"`
	// Tracks are what the publisher sends, simulcast layers from low to high.
	Tracks []sfu.Layer `json:"tracks,omitempty"`
	// StreamKey is returned once, when the stream is created.
	StreamKey string `json:"stream_key,omitempty"`
	// TicketsRefunded counts the tickets refunded when a ticketed stream is cancelled.
	TicketsRefunded int `json:"tickets_refunded,omitempty"`
}

func (a *api) streamJSON(s store.Stream) streamJSON {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	base := strings.TrimRight(a.PublicURL, "/")
	out := streamJSON{ID: s.ID, CreatorID: s.CreatorID, Title: s.Title, AccessMode: string(s.AccessMode),
		PreviewSeconds: s.PreviewSeconds, MaxSessions: s.MaxSessions, SessionPolicy: s.SessionPolicy,
		Record: s.Record, ReplayWindowSeconds: int64(a.replayWindow(s) / time.Second), RetentionSeconds: int64(a.retention(s) / time.Second),
		State: string(s.State), CreatedAt: s.CreatedAt, StartedAt: opt(s.StartedAt), EndedAt: opt(s.EndedAt),
		WHIPURL: base + "/whip/" + s.ID, WHEPURL: base + "/whep/" + s.ID}
	if room := a.SFU.Room(s.ID); room != nil {
		out.Viewers = room.Subscribers()
		out.Publisher = "connected"
		out.Tracks = room.Layers()
		if waiting, until := room.Reconnecting(); waiting {
			out.Publisher, out.ReconnectBy = "reconnecting", &until
		}
	}
	return out
}

func (a *api) createStream(w http.ResponseWriter, r *http.Request) {
	in := struct {
		CreatorID      string `json:"creator_id"`
		Title          string `json:"title"`
		AccessMode     string `json:"access_mode"`
		PreviewSeconds int    `json:"preview_seconds"`
		MaxSessions    int    `json:"max_sessions"`
		SessionPolicy  string `json:"session_policy"`
		// Record defaults to on for ticket streams: a ticket is also the right to replay.
		Record              *bool `json:"record"`
		ReplayWindowSeconds int64 `json:"replay_window_seconds"`
		RetentionSeconds    int64 `json:"retention_seconds"`
	}{MaxSessions: 1, SessionPolicy: store.PolicyReject}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	if p := principalOf(r); p.creator != "" && in.CreatorID == "" {
		in.CreatorID = p.creator // a creator token creates its own creator's streams
	}
	if !mayManage(w, r, in.CreatorID) {
		return
	}
	in.Title = strings.TrimSpace(in.Title)
	if in.AccessMode == "" {
		in.AccessMode = string(store.AccessFree)
	}
	switch {
	case in.CreatorID == "":
		invalid(w, r, "creator_id", "creator_id is required")
		return
	case in.Title == "" || utf8.RuneCountInString(in.Title) > 200:
		invalid(w, r, "title", "title must be 1 to 200 characters")
		return
	case !store.AccessMode(in.AccessMode).Valid():
		invalid(w, r, "access_mode", "access_mode must be one of: free, ticket, subscribers")
		return
	}
	if _, err := a.Store.Creator(r.Context(), in.CreatorID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			invalid(w, r, "creator_id", "no creator with this id")
			return
		}
		a.storeError(w, r, "creator", err)
		return
	}
	key := newStreamKey()
	s := store.Stream{ID: store.NewID("str"), CreatorID: in.CreatorID, Title: in.Title,
		AccessMode: store.AccessMode(in.AccessMode), KeyHash: whip.HashKey(key), State: store.StateScheduled,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond), PreviewSeconds: in.PreviewSeconds,
		MaxSessions: in.MaxSessions, SessionPolicy: in.SessionPolicy, Record: recordByDefault(in.Record, in.AccessMode),
		ReplayWindow: time.Duration(in.ReplayWindowSeconds) * time.Second, Retention: time.Duration(in.RetentionSeconds) * time.Second}
	if field, msg := validAccessRules(s); field != "" {
		invalid(w, r, field, msg)
		return
	}
	if err := a.Store.CreateStream(r.Context(), s); err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	out := a.streamJSON(s)
	out.StreamKey = key
	w.Header().Set("Location", "/v1/streams/"+s.ID)
	writeJSON(w, http.StatusCreated, out)
}

func newStreamKey() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "sk_" + base64.RawURLEncoding.EncodeToString(b[:])
}

func (a *api) listStreams(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.StreamFilter{State: store.StreamState(q.Get("state")), CreatorID: q.Get("creator_id")}
	if p := principalOf(r); p.creator != "" {
		if f.CreatorID != "" && !mayManage(w, r, f.CreatorID) {
			return
		}
		f.CreatorID = p.creator // a creator lists its own streams
	}
	if f.State != "" && !f.State.Valid() {
		problem.Answer(w, r, errInvalidQuery.Field("state", "state must be scheduled, live or ended"))
		return
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			problem.Answer(w, r, errInvalidQuery.Field("limit", "limit must be 1 to 1000"))
			return
		}
		f.Limit = n
	}
	streams, err := a.Store.ListStreams(r.Context(), f)
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	out := make([]streamJSON, 0, len(streams))
	for _, s := range streams {
		out = append(out, a.streamJSON(s))
	}
	writeJSON(w, http.StatusOK, map[string]any{"streams": out})
}

func (a *api) getStream(w http.ResponseWriter, r *http.Request) {
	s, err := a.Store.Stream(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	out := a.streamJSON(s)
	if a.Fleet != nil && s.State == store.StateLive {
		a.fleetState(r.Context(), s, &out)
	}
	writeJSON(w, http.StatusOK, out)
}

// fleetState says where in the fleet a live stream comes from: its origin node, and
// "origin-lost" while no node is (its origin died; the encoder may reconnect to any
// node within the grace window).
func (a *api) fleetState(ctx context.Context, s store.Stream, out *streamJSON) {
	origin, ok, err := a.Fleet.OriginID(ctx, s.ID)
	switch {
	case err != nil:
	case ok:
		out.Origin = origin
		if room := a.SFU.Room(s.ID); room != nil && room.Relayed() {
			out.Publisher = "" // the encoder is on the origin; this node relays
		}
	case a.SFU.Room(s.ID) == nil:
		out.Publisher = "origin-lost"
	}
}

// endStream ends a stream for good: the publisher and every viewer are disconnected. A
// ticketed stream cancelled before it went live refunds every ticket.
func (a *api) endStream(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	before, err := a.Store.Stream(r.Context(), id)
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	if err := a.Streams.End(r.Context(), id, streams.ReasonEndedByCreator); err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	refunded := 0
	if before.State == store.StateScheduled && before.AccessMode == store.AccessTicket {
		if refunded, err = a.Billing.RefundStream(r.Context(), id); err != nil {
			// The stream stays ended; repeating DELETE retries the remaining refunds.
			a.Logger.Error("refund cancelled stream", "stream", id, "refunded", refunded, "err", err)
			problem.Answer(w, r, errRefundsIncomplete.With(fmt.Sprintf("%d tickets refunded; repeat the request to retry the rest", refunded)))
			return
		}
	}
	s, err := a.Store.Stream(r.Context(), id)
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	out := a.streamJSON(s)
	out.TicketsRefunded = refunded
	writeJSON(w, http.StatusOK, out)
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
		PreviewSeconds      *int    `json:"preview_seconds"`
		MaxSessions         *int    `json:"max_sessions"`
		SessionPolicy       *string `json:"session_policy"`
		Record              *bool   `json:"record"`
		ReplayWindowSeconds *int64  `json:"replay_window_seconds"`
		RetentionSeconds    *int64  `json:"retention_seconds"`
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	recording := in.Record != nil || in.ReplayWindowSeconds != nil || in.RetentionSeconds != nil
	if in.Record != nil {
		st.Record = *in.Record
	}
	if in.ReplayWindowSeconds != nil {
		st.ReplayWindow = time.Duration(*in.ReplayWindowSeconds) * time.Second
	}
	if in.RetentionSeconds != nil {
		st.Retention = time.Duration(*in.RetentionSeconds) * time.Second
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
	if recording {
		if err := a.Store.UpdateStreamRecording(r.Context(), id, st.Record, st.ReplayWindow, st.Retention); err != nil {
			a.storeError(w, r, "stream", err)
			return
		}
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
	case st.ReplayWindow < 0 || st.ReplayWindow > maxReplayWindow:
		return "replay_window_seconds", "replay_window_seconds must be 0 (the node's default) to 31536000 (a year)"
	case st.Retention < 0 || st.Retention > maxRetention:
		return "retention_seconds", "retention_seconds must be 0 (the node's default) to 157680000 (five years)"
	case st.Retention > 0 && st.ReplayWindow > st.Retention:
		return "replay_window_seconds", "the replay window cannot outlast the recording's retention"
	}
	return "", ""
}

const (
	maxReplayWindow = 365 * 24 * time.Hour
	maxRetention    = 5 * 365 * 24 * time.Hour
)

// recordByDefault is whether a new stream is recorded: as asked, else ticket streams are.
func recordByDefault(asked *bool, mode string) bool {
	if asked != nil {
		return *asked
	}
	return mode == string(store.AccessTicket)
}

// replayWindow is how long after its end a stream may be replayed.
func (a *api) replayWindow(s store.Stream) time.Duration {
	return s.ReplayUntil(a.ReplayWindow).Sub(s.EndedAt)
}

// retention is how long a stream's recording is kept after its end.
func (a *api) retention(s store.Stream) time.Duration {
	if s.Retention > 0 {
		return s.Retention
	}
	return a.RecordingRetention
}

func (a *api) putStreamPrices(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Prices map[string]json.Number `json:"prices"`
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	prices := map[string]int64{}
	for cur, num := range in.Prices {
		n, err := num.Int64()
		if err != nil {
			invalid(w, r, "prices."+cur, "amounts are whole numbers of the currency's minor unit")
			return
		}
		prices[cur] = n
	}
	id := chi.URLParam(r, "id")
	if err := a.Billing.SetStreamPrices(r.Context(), id, prices); err != nil {
		a.moneyError(w, r, err)
		return
	}
	a.streamPrices(w, r)
}

func (a *api) streamPrices(w http.ResponseWriter, r *http.Request) {
	ps, err := a.Store.StreamPrices(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	out := map[string]any{}
	for _, p := range ps {
		cur, _ := money.Lookup(p.Currency)
		out[p.Currency] = map[string]any{"amount": p.Amount, "display": cur.Format(p.Amount)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"prices": out})
}
