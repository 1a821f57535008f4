// Package store defines livegate's durable data (creators, streams, and later money) and
// the interface every SQL backend implements. Implementations live in subpackages; the
// storetest package holds the conformance suite each of them must pass.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/livegate/livegate/internal/ids"
	"github.com/livegate/livegate/internal/problem"
)

// Errors callers branch on. Implementations wrap them.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the database does not answer (down, restarting, unreachable). What
	// needs it is refused with 503 and Retry-After; what the node holds goes on.
	ErrUnavailable = &problem.Error{Status: http.StatusServiceUnavailable, Type: "store-unavailable", Title: "Data store unavailable",
		Msg: "the database does not answer", Hint: "retry shortly", RetryAfter: 5 * time.Second}
)

// AccessMode says who may watch a stream.
type AccessMode string

// Access modes: anyone may watch a free stream; a ticket stream needs a ticket for that
// live event; a subscribers stream needs an active subscription to its creator.
const (
	AccessFree        AccessMode = "free"
	AccessTicket      AccessMode = "ticket"
	AccessSubscribers AccessMode = "subscribers"
)

// Valid reports whether m is a mode this build understands.
func (m AccessMode) Valid() bool {
	return m == AccessFree || m == AccessTicket || m == AccessSubscribers
}

// StreamState is where a stream is in its life.
type StreamState string

// A stream is scheduled until its publisher connects, live while it publishes, and ended
// after the publisher leaves or the creator ends it. Ended is final.
const (
	StateScheduled StreamState = "scheduled"
	StateLive      StreamState = "live"
	StateEnded     StreamState = "ended"
)

// Valid reports whether s is a known state.
func (s StreamState) Valid() bool {
	return s == StateScheduled || s == StateLive || s == StateEnded
}

// Creator is someone who goes live and gets paid.
type Creator struct {
	ID        string
	Name      string
	Country   string // ISO 3166-1 alpha-2: where the creator is paid out
	CreatedAt time.Time
}

// Stream is one live event of a creator.
type Stream struct {
	ID         string
	CreatorID  string
	Title      string
	AccessMode AccessMode
	KeyHash    []byte // SHA-256 of the stream key; the key itself is never stored
	State      StreamState
	CreatedAt  time.Time
	StartedAt  time.Time // zero until the first publish
	EndedAt    time.Time // zero until ended
	// PreviewSeconds lets a viewer without access watch this long (per viewer, in all).
	PreviewSeconds int
	// MaxSessions caps one viewer's concurrent sessions per entitlement (0: no cap);
	// SessionPolicy says what a join over the cap does: "reject" it or "replace" the oldest.
	MaxSessions   int
	SessionPolicy string
	// Record says whether the origin records the stream for replays (default: ticket
	// streams). ReplayWindow is how long after its end entitled viewers may replay it
	// and Retention how long its recording is kept (zero: the node's defaults).
	Record       bool
	ReplayWindow time.Duration
	Retention    time.Duration
}

// ReplayUntil is when an ended stream's replay window closes; def is the window when the
// stream sets none.
func (s Stream) ReplayUntil(def time.Duration) time.Time {
	w := s.ReplayWindow
	if w <= 0 {
		w = def
	}
	return s.EndedAt.Add(w)
}

// Recording is one part of a stream's recording: what one room on one node wrote. An
// encoder reconnecting to the same node continues its part; one that comes back to
// another node (or after a crash) starts the next.
type Recording struct {
	ID         string
	StreamID   string
	CreatorID  string
	Key        string // where the part is in the recording storage
	Node       string // the node that wrote it
	State      string
	StartedAt  time.Time
	EndedAt    time.Time
	Bytes      int64
	DurationMS int64
}

// Recording states.
const (
	RecordingInProgress  = "recording"
	RecordingComplete    = "complete"    // finalized: duration and seek index written
	RecordingInterrupted = "interrupted" // the node stopped mid-part; it plays up to there
	RecordingEmpty       = "empty"       // no keyframe came: nothing was written
	RecordingFailed      = "failed"      // the storage refused a write
)

// Session policies.
const (
	PolicyReject  = "reject"
	PolicyReplace = "replace"
)

// StreamFilter narrows ListStreams. Zero values match everything.
type StreamFilter struct {
	State     StreamState
	CreatorID string
	Limit     int // 0 means the implementation's default (100)
}

// Store is livegate's durable data.
type Store interface {
	Billing
	Promos
	Tips
	Books
	Webhooks
	Bans

	CreateCreator(ctx context.Context, c Creator) error
	Creator(ctx context.Context, id string) (Creator, error)

	CreateStream(ctx context.Context, s Stream) error
	Stream(ctx context.Context, id string) (Stream, error)
	ListStreams(ctx context.Context, f StreamFilter) ([]Stream, error)
	// MarkStreamLive moves a scheduled or live stream to live, setting StartedAt on the
	// first publish. An ended stream gives ErrConflict.
	MarkStreamLive(ctx context.Context, id string, at time.Time) error
	// UpdateStreamAccess changes a stream's preview and session rules.
	UpdateStreamAccess(ctx context.Context, id string, previewSeconds, maxSessions int, policy string) error
	// EndStream ends a stream for good. Ending an ended stream is not an error and keeps
	// the first EndedAt.
	EndStream(ctx context.Context, id string, at time.Time) error
	// UpdateStreamRecording changes whether a stream is recorded and its replay window
	// and retention.
	UpdateStreamRecording(ctx context.Context, id string, record bool, window, retention time.Duration) error

	CreateRecording(ctx context.Context, r Recording) error
	// FinishRecording saves a part's final state, end, size and duration.
	FinishRecording(ctx context.Context, r Recording) error
	// CheckpointRecording saves the size and duration so far of a part being written; a
	// part no longer in progress is left alone.
	CheckpointRecording(ctx context.Context, id string, bytes, durationMS int64) error
	// Recordings lists a stream's parts, oldest first.
	Recordings(ctx context.Context, streamID string) ([]Recording, error)
	// RecordingsInProgress lists the parts node was writing.
	RecordingsInProgress(ctx context.Context, node string) ([]Recording, error)
	DeleteRecording(ctx context.Context, id string) error
	// ExpiredRecordings lists the parts of streams that ended longer ago than their
	// retention (def for a stream that sets none).
	ExpiredRecordings(ctx context.Context, def time.Duration, now time.Time) ([]Recording, error)

	Close() error
}

// NewID returns a random, URL-safe identifier with a readable prefix, e.g. "str_...".
func NewID(prefix string) string { return ids.New(prefix) }

// Database is where a node keeps its data, as its URL names it: PostgreSQL
// (postgres://, postgresql://) or a SQLite file (sqlite:PATH, Path set).
type Database struct {
	Postgres bool
	Path     string // the SQLite file
}

// ParseDatabaseURL reads a database URL, and refuses anything livegate does not use: a
// mistyped URL (mysql://, postgresql+pgx://) must not quietly become a SQLite file named
// after it, a ledger of its own on every node of a fleet.
func ParseDatabaseURL(url string) (Database, error) {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return Database{Postgres: true}, nil
	case strings.HasPrefix(url, "sqlite:") && len(url) > len("sqlite:"):
		return Database{Path: strings.TrimPrefix(url, "sqlite:")}, nil
	case url == "sqlite:":
		return Database{}, errors.New("sqlite: needs a file path (sqlite:/var/lib/livegate/livegate.db)")
	}
	scheme, _, _ := strings.Cut(url, ":")
	return Database{}, fmt.Errorf("%q is not a database livegate uses: want postgres://..., postgresql://... or sqlite:PATH", scheme)
}
