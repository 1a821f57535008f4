// Package whip serves WHIP (RFC 9725) ingest and WHEP playback over HTTP: SDP offer in,
// answer out, a session resource for trickle ICE, ICE restart and teardown. It turns HTTP
// into calls on the SFU and decides nothing about media itself.
package whip

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livegate/livegate/internal/access"
	"github.com/livegate/livegate/internal/admission"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/sfu"
	"github.com/livegate/livegate/internal/store"
)

// Streams is the part of the store the handlers need.
type Streams interface {
	Stream(ctx context.Context, id string) (store.Stream, error)
}

// Lifecycle records what a publisher's connection does to its stream (streams.Lifecycle).
type Lifecycle interface {
	WentLive(ctx context.Context, id string)
	End(ctx context.Context, id, reason string) error
}

// Gate admits viewers: it checks their playback token and opens their session before the
// SFU answers, and ties the session to the viewer's connection.
type Gate interface {
	Admit(ctx context.Context, token string, st store.Stream) (access.Pass, error)
	Attach(p access.Pass, close func(reason sessions.Reason)) (gone func())
	Connected(sessionID string)
	Release(p access.Pass, reason sessions.Reason)
}

// Config tunes the handlers.
type Config struct {
	// Gate admits WHEP viewers.
	Gate Gate
	// Lifecycle marks a stream live when its publisher connects and ends it when the
	// publisher goes.
	Lifecycle    Lifecycle
	MaxBodyBytes int64
	// ICEServers are advertised in Link headers (RFC 9725 §4.6), e.g. "stun:stun.example.org:3478".
	ICEServers []string
	// TURN gives the TURN servers with a credential for one session (internal/turn),
	// advertised beside ICEServers; nil: none.
	TURN func(sessionID string) []ICEServer
	// PathParam reads a path parameter ("stream", "session") from the router.
	PathParam func(r *http.Request, name string) string
	// MaxCandidates bounds the remote ICE candidates of one session (offer and trickle;
	// an ICE restart starts a new count), MaxPatches the PATCH requests of one session:
	// each candidate makes the node send connectivity checks.
	MaxCandidates int
	MaxPatches    int
	// ClientIP is who sent a request (behind trusted proxies, the forwarded address).
	ClientIP func(*http.Request) netip.Addr
	// MaxPendingPerClient and MaxPending cap the viewer connections that have been
	// answered but are not up yet, per client address and on the node; 0: no cap. An
	// answered offer costs the node a peer connection whether or not it ever connects.
	MaxPendingPerClient int
	MaxPending          int
	// Rejected counts joins refused by a limit, by reason; nil counts nothing.
	Rejected *prometheus.CounterVec
	// Limits rate-limits offers per client and slows down clients whose stream keys are
	// rejected; nil limits nothing.
	Limits *admission.Limits
	// Capacity refuses viewers when the node is full; nil never refuses.
	Capacity Capacity
	// Fleet routes publishers and viewers among nodes; nil on a single node.
	Fleet Fleet
	// Recorder records the streams whose origin is this node; nil records nothing.
	Recorder Recorder
	// MaxMediaSections and MaxSDPLine bound an offer; MaxPatchBytes a PATCH body.
	MaxMediaSections int
	MaxSDPLine       int
	MaxPatchBytes    int64
	Logger           *slog.Logger
}

// ICEServer is one TURN server with its credential, as a client's iceServers entry.
type ICEServer struct {
	URL, Username, Credential string
}

// Recorder records a live room (recording.Recorder): from when its publisher is first up
// until the room ends.
type Recorder interface {
	Record(ctx context.Context, streamID string, room recordedRoom) error
	Finish(ctx context.Context, streamID string)
}

// recordedRoom is the room a Recorder taps: the same type as recording.Room, declared
// here so the media handlers do not import the recorder's storage and muxers.
type recordedRoom = interface {
	Tracks(ctx context.Context) ([]sfu.Track, error)
}

// Fleet is this node's part in a fleet of nodes (cluster.Fleet); nil on a single node.
type Fleet interface {
	// PublisherTarget and ViewerTarget name the node a publisher or viewer should go to
	// instead of this one ("" for here).
	PublisherTarget(ctx context.Context, stream string) string
	ViewerTarget(ctx context.Context) string
	// Elsewhere names another node with room, "" when there is none.
	Elsewhere(ctx context.Context) string
	// Pull makes sure this node has the stream's room when another node is its origin.
	Pull(ctx context.Context, stream string) error
	// Live and Ended record this node as the stream's origin, and forget it.
	Live(ctx context.Context, stream string)
	Ended(ctx context.Context, stream string)
}

// Capacity says whether the node takes another viewer.
type Capacity interface {
	AdmitViewer() *problem.Error
}

// Handler serves /whip and /whep.
type Handler struct {
	sfu     *sfu.SFU
	streams Streams
	cfg     Config
	log     *slog.Logger

	// held is the last read of each stream with a room here, for joins decided while the
	// database is away (store.Stream by id).
	held sync.Map

	mu       sync.Mutex
	sessions map[string]*session
	pending  map[pendingKey]int // viewer connections answered, not yet up
	pendingN int
}

// pendingKey is a client's pool of offers, for its pending connections and its WHEP rate
// limit: offers with a playback token are counted apart from its anonymous ones, so that
// a flood of anonymous offers does not lock out a viewer behind the same address who went
// through /access (whose tokens are rate-limited there and each open one session).
type pendingKey struct {
	client string
	token  bool
}

func (k pendingKey) String() string {
	if k.token {
		return k.client + " token"
	}
	return k.client
}

// sessionPeer is what PATCH needs of a publisher or viewer connection.
type sessionPeer interface {
	ID() string
	OnClose(func())
	AddICECandidate(webrtc.ICECandidateInit) error
	RestartICE(ctx context.Context, ufrag, pwd string) (string, error)
	LocalICE() (ufrag, pwd string)
	RemoteICE() (ufrag, pwd string)
}

// New returns the WHIP/WHEP handlers. The bounds come from the node's configuration as
// they are: a zero bound is an error, not a default.
func New(s *sfu.SFU, streams Streams, cfg Config) (*Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 || cfg.MaxCandidates <= 0 || cfg.MaxPatches <= 0 ||
		cfg.MaxMediaSections <= 0 || cfg.MaxSDPLine <= 0 || cfg.MaxPatchBytes <= 0 {
		return nil, fmt.Errorf("whip: MaxBodyBytes %d, MaxCandidates %d, MaxPatches %d, MaxMediaSections %d, MaxSDPLine %d and MaxPatchBytes %d must all be positive",
			cfg.MaxBodyBytes, cfg.MaxCandidates, cfg.MaxPatches, cfg.MaxMediaSections, cfg.MaxSDPLine, cfg.MaxPatchBytes)
	}
	return &Handler{sfu: s, streams: streams, cfg: cfg, log: cfg.Logger, sessions: map[string]*session{},
		pending: map[pendingKey]int{}}, nil
}

// Sessions counts open WHIP and WHEP sessions.
func (h *Handler) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}
