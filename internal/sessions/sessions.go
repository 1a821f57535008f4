// Package sessions tracks who is watching: one Session per viewer connection, with a TTL
// the owning node keeps refreshing while the viewer's ICE connection is up, a concurrent-
// session cap per viewer and entitlement enforced atomically, live and unique viewer
// counts, free-preview time used, "collects", and a fan-out channel that tells every node
// to drop sessions whose access ended. Redis backs a fleet; an in-process store backs a
// single node. Both pass the sessionstest conformance suite.
package sessions

import (
	"context"
	"errors"
	"time"

	"github.com/livegate/livegate/internal/problem"
)

// Errors callers branch on.
var (
	ErrLimit       = errors.New("too many concurrent sessions")
	ErrExists      = errors.New("session already open")
	ErrNotFound    = errors.New("session not found")
	ErrUnavailable = problem.ErrUnavailable.With("the session store does not answer: retry shortly")
)

// Reason is why a session ended, as a player reads it at GET /v1/sessions/{id}: fixed
// texts, never a name (an operator's, a viewer's), so players can branch on them. A type
// of its own so that it cannot trade places with the session id beside it.
type Reason string

// The reasons.
const (
	ReasonViewerLeft   Reason = "viewer left"
	ReasonKicked       Reason = "kicked by an operator"
	ReasonBanned       Reason = "banned by an operator"
	ReasonReplaced     Reason = "replaced by a newer session"
	ReasonPreviewEnded Reason = "preview ended"
	ReasonStreamEnded  Reason = "stream ended"
	ReasonJoinFailed   Reason = "join failed"
	ReasonNodeStopping Reason = "node stopping" // the viewer's node drained: it rejoins on another
	reasonRevoked      Reason = "access revoked"
)

// ReasonRevoked is the end reason of a session whose entitlement was revoked, with the
// money plane's why ("refunded", "disputed", "subscription canceled").
func ReasonRevoked(why string) Reason { return reasonRevoked + Reason(": "+why) }

// What a session stands on when it is not an entitlement (ticket or subscription) id.
const (
	EntitlementFree    = "free"    // a free stream
	EntitlementPreview = "preview" // a paid stream's free preview
)

// Watch names one viewer of one stream, what preview time and collects belong to. Named
// fields, because two bare string ids in a row get swapped.
type Watch struct {
	Viewer string
	Stream string
}

// Session is one viewer connection to one stream on one node.
type Session struct {
	ID          string    `json:"id"`
	NodeID      string    `json:"node_id"`
	StreamID    string    `json:"stream_id"`
	ViewerID    string    `json:"viewer_id"`
	Country     string    `json:"country"`
	Entitlement string    `json:"entitlement"` // entitlement id, EntitlementFree or EntitlementPreview
	Preview     bool      `json:"preview"`
	StartedAt   time.Time `json:"started_at"`
	// Connected says the viewer's media flows (ICE and DTLS are up). Only a connected
	// session counts among a stream's current and unique viewers: an offer that never
	// connects holds a slot of the viewer's cap, never a place in the audience.
	Connected bool `json:"connected"`
}

// Paid reports whether the session stands on an entitlement (ticket or subscription),
// which a refund, dispute or cancellation can revoke.
func (s Session) Paid() bool {
	return s.Entitlement != "" && s.Entitlement != EntitlementFree && s.Entitlement != EntitlementPreview
}

// scope is what the concurrency cap counts: one viewer using one entitlement (for free
// and preview watching, one stream).
func (s Session) scope() string {
	if !s.Paid() {
		return s.ViewerID + "|" + s.Entitlement + ":" + s.StreamID
	}
	return s.ViewerID + "|" + s.Entitlement
}

// Limit caps concurrent sessions of one scope. Max 0 means no cap. When full, Replace
// kicks the oldest session instead of refusing the new one.
type Limit struct {
	Max     int
	Replace bool
}

// Stats are a stream's audience figures.
type Stats struct {
	Current  int `json:"viewers"`
	Unique   int `json:"unique_viewers"`
	Collects int `json:"collects"`
}

// Event kinds.
const (
	EventEntitlement = "entitlement" // an entitlement was revoked: drop its sessions
	EventSession     = "session"     // one session was kicked
	EventStream      = "stream"      // a stream ended: drop its viewers
)

// Event tells every node to drop matching sessions.
type Event struct {
	Kind          string `json:"kind"`
	SessionID     string `json:"session_id,omitempty"`
	StreamID      string `json:"stream_id,omitempty"`
	EntitlementID string `json:"entitlement_id,omitempty"`
	Reason        Reason `json:"reason"`
}

// markerKey is where an event is recorded, by what it revokes.
func (e Event) markerKey() string {
	switch e.Kind {
	case EventSession:
		return "session:" + e.SessionID
	case EventStream:
		return "stream:" + e.StreamID
	case EventEntitlement:
		return "ent:" + e.EntitlementID
	}
	return ""
}

// markerKeys are the records that could end s.
func (s Session) markerKeys() []Event {
	return []Event{{Kind: EventSession, SessionID: s.ID}, {Kind: EventStream, StreamID: s.StreamID},
		{Kind: EventEntitlement, EntitlementID: s.Entitlement}}
}

// Matches reports whether the event ends session s.
func (e Event) Matches(s Session) bool {
	switch e.Kind {
	case EventSession:
		return e.SessionID == s.ID
	case EventStream:
		return e.StreamID == s.StreamID
	case EventEntitlement:
		return e.EntitlementID != "" && e.EntitlementID == s.Entitlement
	}
	return false
}

// SpentFor is how long a session id, once opened, can never open again. Playback tokens
// carry the id and live far shorter, so a token opens one session, ever.
const SpentFor = time.Hour

// Store is where sessions live.
type Store interface {
	// Open registers s, enforcing lim within s's scope atomically. It returns the
	// sessions it kicked to make room (Replace), ErrLimit when full, ErrExists when s.ID
	// is open or was opened within SpentFor (whether or not it has ended since).
	Open(ctx context.Context, s Session, lim Limit, ttl time.Duration) (kicked []Session, err error)
	// Connect marks an open session's media as flowing: from now on it counts among the
	// stream's current and unique viewers. ErrNotFound when it is no longer open.
	Connect(ctx context.Context, s Session, ttl time.Duration) error
	// Refresh extends the TTL of a node's live sessions, re-creating any the store lost
	// (after a Redis restart).
	Refresh(ctx context.Context, live []Session, ttl time.Duration) error
	// End ends a session and remembers why for an hour.
	End(ctx context.Context, id string, reason Reason) error
	Get(ctx context.Context, id string) (Session, error)
	// Ended returns why a closed session ended.
	Ended(ctx context.Context, id string) (Reason, error)
	// List returns the live sessions of a stream, or of every stream for "".
	List(ctx context.Context, streamID string) ([]Session, error)
	Stats(ctx context.Context, streamID string) (Stats, error)
	// AddPreview adds watched preview time and returns the viewer's total for the stream.
	AddPreview(ctx context.Context, w Watch, d time.Duration) (time.Duration, error)
	PreviewUsed(ctx context.Context, w Watch) (time.Duration, error)
	// Collect records a viewer's collect of a stream once; added is false the second time.
	Collect(ctx context.Context, w Watch) (added bool, err error)
	// Publish records e for an hour and sends it to every node at once.
	Publish(ctx context.Context, e Event) error
	// Revoked returns the recorded events that end any of sessions: the safety net for an
	// event a node's subscription missed (it is checked on every heartbeat).
	Revoked(ctx context.Context, sessions []Session) ([]Event, error)
	// Events delivers every published event, from any node, until ctx ends.
	Events(ctx context.Context) <-chan Event
	// Epoch is when the store's memory begins: spent session ids and preview clocks from
	// before it may be gone (a Redis that came back empty). It moves forward only when
	// the store lost what it held.
	Epoch(ctx context.Context) (time.Time, error)
	Close() error
}

// IssuedBeforeEpoch says whether something issued at issued (a playback token, whose
// time has whole seconds) predates the store's memory, so that whether it was spent is
// not known.
func IssuedBeforeEpoch(issued, epoch time.Time) bool {
	return issued.Before(epoch.Truncate(time.Second))
}

// PreviewsForgotten says whether the free previews of a stream that first went live at
// started may have been used and forgotten: the store's memory began after it.
func PreviewsForgotten(started, epoch time.Time) bool {
	return !started.IsZero() && started.Before(epoch)
}
