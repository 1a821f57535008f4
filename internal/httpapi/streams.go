package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/whip"
)

type creatorJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Country   string    `json:"country,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func (a *api) createCreator(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name    string `json:"name"`
		Country string `json:"country"`
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 100 {
		invalid(w, r, "name", "name must be 1 to 100 characters")
		return
	}
	if in.Country != "" && !countries.ValidCode(in.Country) {
		invalid(w, r, "country", "country must be an ISO 3166-1 alpha-2 code, e.g. MA")
		return
	}
	c := store.Creator{ID: store.NewID("cr"), Name: in.Name, Country: in.Country, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := a.Store.CreateCreator(r.Context(), c); err != nil {
		a.storeError(w, r, "creator", err)
		return
	}
	writeJSON(w, http.StatusCreated, creatorJSON{c.ID, c.Name, c.Country, c.CreatedAt})
}

func (a *api) getCreator(w http.ResponseWriter, r *http.Request) {
	c, err := a.Store.Creator(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.storeError(w, r, "creator", err)
		return
	}
	writeJSON(w, http.StatusOK, creatorJSON{c.ID, c.Name, c.Country, c.CreatedAt})
}

type streamJSON struct {
	ID             string     `json:"id"`
	CreatorID      string     `json:"creator_id"`
	Title          string     `json:"title"`
	AccessMode     string     `json:"access_mode"`
	PreviewSeconds int        `json:"preview_seconds"`
	MaxSessions    int        `json:"max_sessions"`
	SessionPolicy  string     `json:"session_policy"`
	State          string     `json:"state"`
	CreatedAt      time.Time  `json:"created_at"`
	StartedAt      *time.Time `json:"started_at,omitempty"`
	EndedAt        *time.Time `json:"ended_at,omitempty"`
	WHIPURL        string     `json:"whip_url"`
	WHEPURL        string     `json:"whep_url"`
	Viewers        int        `json:"viewers"`
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
		State: string(s.State), CreatedAt: s.CreatedAt, StartedAt: opt(s.StartedAt), EndedAt: opt(s.EndedAt),
		WHIPURL: base + "/whip/" + s.ID, WHEPURL: base + "/whep/" + s.ID}
	if room := a.SFU.Room(s.ID); room != nil {
		out.Viewers = room.Subscribers()
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
	}{MaxSessions: 1, SessionPolicy: store.PolicyReject}
	if !a.decodeJSON(w, r, &in) {
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
		MaxSessions: in.MaxSessions, SessionPolicy: in.SessionPolicy}
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
	if f.State != "" && !f.State.Valid() {
		problem.WriteDetails(w, r, problem.Details{Type: problem.Type("invalid-query"), Title: "Invalid query parameter",
			Status: http.StatusBadRequest, Detail: "state must be scheduled, live or ended", Field: "state"})
		return
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			problem.WriteDetails(w, r, problem.Details{Type: problem.Type("invalid-query"), Title: "Invalid query parameter",
				Status: http.StatusBadRequest, Detail: "limit must be 1 to 1000", Field: "limit"})
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
	writeJSON(w, http.StatusOK, a.streamJSON(s))
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
	if err := a.Streams.End(r.Context(), id, "stream ended by the creator"); err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	refunded := 0
	if before.State == store.StateScheduled && before.AccessMode == store.AccessTicket {
		if refunded, err = a.Billing.RefundStream(r.Context(), id); err != nil {
			// The stream stays ended; repeating DELETE retries the remaining refunds.
			a.Logger.Error("refund cancelled stream", "stream", id, "refunded", refunded, "err", err)
			problem.Write(w, r, http.StatusBadGateway, "refunds-incomplete", "Some refunds failed",
				fmt.Sprintf("%d tickets refunded; repeat the request to retry the rest", refunded))
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
