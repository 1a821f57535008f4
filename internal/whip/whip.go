// Package whip serves WHIP (RFC 9725) ingest and WHEP playback over HTTP: SDP offer in,
// answer out, a session resource for trickle ICE, ICE restart and teardown. It turns HTTP
// into calls on the SFU and decides nothing about media itself.
package whip

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livegate/livegate/internal/access"
	"github.com/livegate/livegate/internal/admission"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/recording"
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

// Recorder records a live room (recording.Recorder): from when its publisher is first up
// until the room ends.
type Recorder interface {
	Record(ctx context.Context, streamID string, room recording.Room) error
	Finish(ctx context.Context, streamID string)
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

// session is one WHIP or WHEP resource.
type session struct {
	id       string
	streamID string
	ingest   bool
	peer     sessionPeer
	close    func()
	viewer   *sfu.Subscriber // nil for a WHIP session

	mu         sync.Mutex
	etag       string
	patches    int // PATCH requests so far
	candidates int // remote candidates since the last ICE (re)start
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

const maxLayerHelp = `max_layer is a simulcast layer: "low", "medium", "high" or its index (0 is the lowest)`

// parseLayer reads a simulcast layer the way a viewer names it: "low", "medium",
// "high" (or q, h, f), or an index from 0, the lowest.
func parseLayer(v string) (int, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "low", "q", "l":
		return 0, true
	case "medium", "mid", "h", "m":
		return 1, true
	case "high", "f":
		return 2, true
	case "any", "auto":
		return sfu.AnyLayer, true
	}
	var i int
	if _, err := fmt.Sscanf(v, "%d", &i); err != nil || i < 0 || i > 8 || fmt.Sprint(i) != strings.TrimSpace(v) {
		return 0, false
	}
	return i, true
}

// patchViewer changes a viewer's choices (livegate's extension to WHEP):
// {"max_layer": "low"} pins the highest simulcast layer, "any" lifts the pin.
func (h *Handler) patchViewer(w http.ResponseWriter, r *http.Request, s *session) {
	body, ok := h.readBody(w, r, h.cfg.MaxPatchBytes)
	if !ok {
		return
	}
	var req struct {
		MaxLayer *string `json:"max_layer"`
	}
	if err := json.Unmarshal([]byte(body), &req); err != nil || req.MaxLayer == nil {
		problem.Answer(w, r, problem.ErrBadJSON.With(`send {"max_layer": "low"}`))
		return
	}
	layer, ok := parseLayer(*req.MaxLayer)
	if !ok {
		problem.Answer(w, r, errBadMaxLayer.With(maxLayerHelp))
		return
	}
	s.viewer.SetMaxLayer(layer)
	w.WriteHeader(http.StatusNoContent)
}

// HashKey is how stream keys are stored.
func HashKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// Publish handles POST /whip/{stream}.
func (h *Handler) Publish(w http.ResponseWriter, r *http.Request) {
	client := admission.ClientKey(h.clientIP(r))
	if err := h.cfg.Limits.Allow(r.Context(), admission.WHIP, client); err != nil {
		problem.Answer(w, r, err)
		return
	}
	// A client whose keys keep failing waits before it may try again, right or wrong.
	if err := h.cfg.Limits.Blocked(admission.WHIPKey, client); err != nil {
		problem.Answer(w, r, err)
		return
	}
	offer, ok := h.readSDP(w, r)
	if !ok {
		return
	}
	st, ok := h.stream(w, r)
	if !ok {
		return
	}
	if !keyMatches(r, st.KeyHash) {
		h.cfg.Limits.Spend(admission.WHIPKey, client)
		w.Header().Set("WWW-Authenticate", `Bearer realm="livegate"`)
		problem.Answer(w, r, errBadStreamKey.With("send the stream key as Authorization: Bearer <key>"))
		return
	}
	if st.State == store.StateEnded {
		problem.Answer(w, r, problem.ErrStreamEnded.With("create a new stream to go live again"))
		return
	}
	if h.redirect(w, r, h.publisherTarget(r, st.ID)) {
		return
	}
	streamID := st.ID
	pub, answer, err := h.sfu.Publish(r.Context(), streamID, offer, sfu.PublishOptions{
		// The stream goes live when media can flow, not when the offer arrives.
		OnLive: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			h.cfg.Lifecycle.WentLive(ctx, streamID)
			if room := h.sfu.Room(streamID); room != nil && h.cfg.Recorder != nil {
				if err := h.cfg.Recorder.Record(ctx, streamID, room); err != nil {
					h.log.Warn("stream not recorded", "stream", streamID, "err", err)
				}
			}
		},
		OnEnd: func(reason string, wasLive bool) {
			if h.cfg.Recorder != nil {
				// The part is complete before the stream is seen to end.
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				h.cfg.Recorder.Finish(ctx, streamID)
				cancel()
			}
			if h.cfg.Fleet != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				h.cfg.Fleet.Ended(ctx, streamID)
				cancel()
				if reason == sfu.ReasonShutdown {
					// A node of a fleet going away does not end its streams: the encoder
					// reconnects to another node, or the fleet ends the stream once its
					// grace window has passed with no origin.
					h.log.Info("node stopping; the stream stays live for its encoder to reconnect elsewhere", "stream", streamID)
					return
				}
			}
			if !wasLive {
				h.log.Info("publisher never connected; stream unchanged", "stream", streamID, "reason", reason)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := h.cfg.Lifecycle.End(ctx, streamID, reason); err != nil {
				h.log.Error("end stream", "stream", streamID, "err", err)
			}
		},
	})
	if err != nil {
		h.sfuError(w, r, err)
		return
	}
	if h.cfg.Fleet != nil {
		// The origin from the moment its encoder is accepted: a viewer on another node
		// right after the WHIP answer finds the stream here (the relay waits for tracks).
		h.cfg.Fleet.Live(r.Context(), streamID)
	}
	h.log.Info("publisher joined", "stream", streamID, "session", pub.ID())
	h.created(w, r, &session{id: pub.ID(), streamID: streamID, ingest: true, peer: pub, close: pub.Close,
		candidates: countCandidates(offer)}, "/whip/", answer)
}

// View handles POST /whep/{stream}.
func (h *Handler) View(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	pool := pendingKey{client: admission.ClientKey(h.clientIP(r)), token: token != ""}
	if err := h.cfg.Limits.Allow(r.Context(), admission.WHEP, pool.String()); err != nil {
		problem.Answer(w, r, err)
		return
	}
	// A draining node sends viewers elsewhere; a full one refuses before it spends
	// anything on the offer: those already watching keep what they have.
	if h.cfg.Fleet != nil && h.redirect(w, r, h.cfg.Fleet.ViewerTarget(r.Context())) {
		return
	}
	if h.cfg.Capacity != nil {
		if err := h.cfg.Capacity.AdmitViewer(); err != nil {
			// In a fleet, a node with room takes the viewer: 307 there, 503 when none has.
			if h.cfg.Fleet != nil && h.redirect(w, r, h.cfg.Fleet.Elsewhere(r.Context())) {
				return
			}
			problem.Answer(w, r, err)
			return
		}
	}
	offer, ok := h.readSDP(w, r)
	if !ok {
		return
	}
	st, ok := h.stream(w, r)
	if !ok {
		return
	}
	// Whether there is media is the SFU's to say: a publisher that has just posted its
	// offer is joined (the SFU waits for its tracks); no publisher is 409 from the SFU.
	if st.State == store.StateEnded {
		problem.Answer(w, r, problem.ErrStreamNotLive.With("the stream has ended"))
		return
	}
	maxLayer := sfu.AnyLayer
	if v := r.URL.Query().Get("max_layer"); v != "" {
		var ok bool
		if maxLayer, ok = parseLayer(v); !ok {
			problem.Answer(w, r, errBadMaxLayer.With(maxLayerHelp))
			return
		}
	}
	release, ok := h.reservePending(pool)
	if !ok {
		h.reject(w, r, "pending", errTooManyPending)
		return
	}
	pass, err := h.cfg.Gate.Admit(r.Context(), token, st)
	if err != nil {
		release()
		if !problem.Answer(w, r, err) {
			h.log.Error("admit viewer", "stream", st.ID, "err", err)
			problem.Answer(w, r, problem.ErrInternal)
		}
		return
	}
	// On a node of a fleet that does not have the stream, its origin relays it here.
	if h.cfg.Fleet != nil {
		if err := h.cfg.Fleet.Pull(r.Context(), st.ID); err != nil {
			h.log.Warn("pull from the origin", "stream", st.ID, "err", err)
		}
	}
	// The WHEP resource is named by the access session: one id per viewer, in Location,
	// Livegate-Session, /v1/sessions/{id} and the operator's kick.
	sub, answer, err := h.sfu.Subscribe(r.Context(), st.ID, pass.Session.ID, offer, sfu.SubscribeOptions{MaxLayer: maxLayer})
	if err != nil {
		release()
		h.cfg.Gate.Release(pass, sessions.ReasonJoinFailed)
		h.sfuError(w, r, err)
		return
	}
	sub.OnClose(h.cfg.Gate.Attach(pass, func(sessions.Reason) { sub.Close() }))
	// The viewer counts, and stops holding a pending slot, once its media flows; a
	// connection that never comes up is closed by the SFU's connect timeout.
	sub.OnConnected(func() {
		release()
		h.cfg.Gate.Connected(pass.Session.ID)
	})
	sub.OnClose(release)
	w.Header().Set("Livegate-Session", pass.Session.ID)
	h.created(w, r, &session{id: sub.ID(), streamID: st.ID, peer: sub, close: sub.Close, viewer: sub,
		candidates: countCandidates(offer)}, "/whep/", answer)
}

func (h *Handler) publisherTarget(r *http.Request, stream string) string {
	if h.cfg.Fleet == nil {
		return ""
	}
	return h.cfg.Fleet.PublisherTarget(r.Context(), stream)
}

// hopParam marks a request another node of the fleet sent here: it is served or
// refused here, never sent on, so that two nodes whose views of each other are a
// heartbeat old cannot bounce a client between them.
const hopParam = "lg_hop"

// redirect answers 307 to the same path on the node at base; false when base is "" or
// the request was sent here by another node already. 307 keeps the method and the body:
// the client posts its offer there.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, base string) bool {
	if base == "" || r.URL.Query().Has(hopParam) {
		return false
	}
	q := r.URL.Query()
	q.Set(hopParam, "1")
	http.Redirect(w, r, strings.TrimRight(base, "/")+r.URL.Path+"?"+q.Encode(), http.StatusTemporaryRedirect)
	return true
}

func (h *Handler) clientIP(r *http.Request) netip.Addr {
	if h.cfg.ClientIP != nil {
		return h.cfg.ClientIP(r)
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// errTooManyPending refuses a viewer whose address (or node) has too many connections
// still coming up. Retry-After is about the connect timeout, by when those ahead of it
// are up or gone.
var errTooManyPending = &problem.Error{Status: http.StatusTooManyRequests, Type: "too-many-pending",
	Title: "Too many connections pending", RetryAfter: 5 * time.Second,
	Msg: "too many viewer connections from this address (or on this node) are still connecting", Hint: "retry shortly"}

// reservePending takes a pending slot for client; release gives it back, once however
// often it is called. ok is false when the caps are full.
func (h *Handler) reservePending(client pendingKey) (release func(), ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if (h.cfg.MaxPending > 0 && h.pendingN >= h.cfg.MaxPending) ||
		(h.cfg.MaxPendingPerClient > 0 && h.pending[client] >= h.cfg.MaxPendingPerClient) {
		return nil, false
	}
	h.pending[client]++
	h.pendingN++
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.pending[client]--; h.pending[client] <= 0 {
				delete(h.pending, client)
			}
			h.pendingN--
		})
	}, true
}

// reject answers a request a limit refused, and counts it under limit.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, limit string, err *problem.Error) {
	if h.cfg.Rejected != nil {
		h.cfg.Rejected.WithLabelValues(limit).Inc()
	}
	problem.Answer(w, r, err)
}

// created registers the session and writes the 201 answer.
func (h *Handler) created(w http.ResponseWriter, r *http.Request, s *session, prefix, answer string) {
	ufrag, _ := s.peer.LocalICE()
	s.etag = etag(ufrag)
	h.mu.Lock()
	h.sessions[s.id] = s
	h.mu.Unlock()
	s.peer.OnClose(func() {
		h.mu.Lock()
		if h.sessions[s.id] == s {
			delete(h.sessions, s.id)
		}
		h.mu.Unlock()
	})

	hdr := w.Header()
	h.linkHeaders(hdr)
	hdr.Set("Content-Type", "application/sdp")
	hdr.Set("Location", prefix+s.streamID+"/"+s.id)
	hdr.Set("ETag", s.etag)
	hdr.Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// Options answers CORS preflights and advertises ICE servers.
func (h *Handler) Options(w http.ResponseWriter, r *http.Request) {
	h.linkHeaders(w.Header())
	w.Header().Set("Accept-Post", "application/sdp")
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) linkHeaders(hdr http.Header) {
	for _, s := range h.cfg.ICEServers {
		hdr.Add("Link", fmt.Sprintf(`<%s>; rel="ice-server"`, s))
	}
}

// Patch handles PATCH on a session: trickle ICE candidates, or an ICE restart when the
// fragment carries new credentials and If-Match is "*".
func (h *Handler) Patch(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(w, r)
	if !ok {
		return
	}
	if s.viewer != nil && contentTypeIs(r, "application/json") {
		h.patchViewer(w, r, s)
		return
	}
	if !contentTypeIs(r, "application/trickle-ice-sdpfrag") {
		problem.Answer(w, r, problem.ErrMediaType.With("PATCH takes application/trickle-ice-sdpfrag (or, on a WHEP session, application/json)"))
		return
	}
	body, ok := h.readBody(w, r, h.cfg.MaxPatchBytes)
	if !ok {
		return
	}
	if err := h.checkLines(body); err != nil {
		problem.Answer(w, r, err)
		return
	}
	frag, err := parseSDPFrag(body)
	if err != nil {
		problem.Answer(w, r, errBadSDPFrag.With(err.Error()))
		return
	}
	ifMatch := r.Header.Get("If-Match")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.patches >= h.cfg.MaxPatches {
		problem.RetryAfter(w, time.Minute)
		problem.Answer(w, r, errTooManyPatches.With(fmt.Sprintf("a session may send at most %d; start a new session", h.cfg.MaxPatches)))
		return
	}
	s.patches++
	remoteUfrag, remotePwd := s.peer.RemoteICE()
	restart := frag.Ufrag != "" && (frag.Ufrag != remoteUfrag || frag.Pwd != remotePwd)
	if restart {
		if ifMatch != "*" {
			problem.Answer(w, r, errIfMatchRequired.With("new ICE credentials restart ICE, which must be sent with If-Match: \"*\""))
			return
		}
		if len(frag.Candidates) > h.cfg.MaxCandidates {
			h.tooManyCandidates(w, r, len(frag.Candidates))
			return
		}
		local, err := s.peer.RestartICE(r.Context(), frag.Ufrag, frag.Pwd)
		if err != nil {
			h.sfuError(w, r, err)
			return
		}
		s.candidates = len(frag.Candidates)
		for _, c := range frag.Candidates {
			_ = s.peer.AddICECandidate(candidateInit(c))
		}
		ufrag, _ := s.peer.LocalICE()
		s.etag = etag(ufrag)
		w.Header().Set("Content-Type", "application/trickle-ice-sdpfrag")
		w.Header().Set("ETag", s.etag)
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, answerFrag(local))
		return
	}
	if ifMatch != "" && ifMatch != "*" && ifMatch != s.etag {
		problem.Answer(w, r, errETagMismatch.With("If-Match does not match the session's current ETag"))
		return
	}
	if s.candidates+len(frag.Candidates) > h.cfg.MaxCandidates {
		h.tooManyCandidates(w, r, s.candidates+len(frag.Candidates))
		return
	}
	s.candidates += len(frag.Candidates)
	for _, c := range frag.Candidates {
		if err := s.peer.AddICECandidate(candidateInit(c)); err != nil {
			problem.Answer(w, r, errBadCandidate.With(err.Error()))
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func candidateInit(c fragCandidate) webrtc.ICECandidateInit {
	init := webrtc.ICECandidateInit{Candidate: c.Candidate}
	if c.Mid != "" {
		mid := c.Mid
		init.SDPMid = &mid
	} else {
		zero := uint16(0)
		init.SDPMLineIndex = &zero
	}
	return init
}

// Delete ends a session: for WHIP the broadcast, for WHEP the viewer's playback.
func (h *Handler) Delete(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(w, r)
	if !ok {
		return
	}
	s.close()
	h.mu.Lock()
	delete(h.sessions, s.id)
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// session finds the session of the URL; an ingest session also needs the stream key.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) (*session, bool) {
	streamID, id := h.cfg.PathParam(r, "stream"), h.cfg.PathParam(r, "session")
	ingest := strings.HasPrefix(r.URL.Path, "/whip/")
	h.mu.Lock()
	s := h.sessions[id]
	h.mu.Unlock()
	if s == nil || s.streamID != streamID || s.ingest != ingest {
		problem.Answer(w, r, problem.ErrSessionMissing.With("the session ended or never existed"))
		return nil, false
	}
	if ingest {
		client := admission.ClientKey(h.clientIP(r))
		if err := h.cfg.Limits.Blocked(admission.WHIPKey, client); err != nil {
			problem.Answer(w, r, err)
			return nil, false
		}
		st, err := h.streams.Stream(r.Context(), streamID)
		if err != nil || !keyMatches(r, st.KeyHash) {
			h.cfg.Limits.Spend(admission.WHIPKey, client)
			w.Header().Set("WWW-Authenticate", `Bearer realm="livegate"`)
			problem.Answer(w, r, errBadStreamKey)
			return nil, false
		}
	}
	return s, true
}

func (h *Handler) stream(w http.ResponseWriter, r *http.Request) (store.Stream, bool) {
	id := h.cfg.PathParam(r, "stream")
	st, err := h.streams.Stream(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		problem.Answer(w, r, problem.ErrStreamNotFound.With(fmt.Sprintf("stream %q does not exist", id)))
		return st, false
	}
	if err != nil {
		h.log.Error("load stream", "stream", id, "err", err)
		problem.Answer(w, r, problem.ErrInternal)
		return st, false
	}
	return st, true
}

// readSDP checks the content type and reads a bounded SDP body.
func (h *Handler) readSDP(w http.ResponseWriter, r *http.Request) (string, bool) {
	if !contentTypeIs(r, "application/sdp") {
		problem.Answer(w, r, problem.ErrMediaType.With("POST an SDP offer as application/sdp"))
		return "", false
	}
	body, ok := h.readBody(w, r, h.cfg.MaxBodyBytes)
	if !ok {
		return "", false
	}
	if strings.TrimSpace(body) == "" {
		problem.Answer(w, r, sfu.ErrBadOffer.With("the body is empty"))
		return "", false
	}
	if err := h.checkSDP(body); err != nil {
		problem.Answer(w, r, err)
		return "", false
	}
	return body, true
}

// checkSDP bounds what an offer may ask of the node before any SDP parser sees it:
// each media section is a transceiver with its own buffers, each candidate a pair to
// check, and a huge line only ever comes from a fuzzer or an attacker.
func (h *Handler) checkSDP(sdp string) *problem.Error {
	if err := h.checkLines(sdp); err != nil {
		return err
	}
	sections, candidates := 0, 0
	for line := range strings.Lines(sdp) {
		switch {
		case strings.HasPrefix(line, "m="):
			sections++
		case strings.HasPrefix(line, "a=candidate:"):
			candidates++
		}
	}
	if sections > h.cfg.MaxMediaSections {
		return &problem.Error{Status: http.StatusRequestEntityTooLarge, Type: "too-many-media-sections",
			Title: "Too many media sections", Msg: fmt.Sprintf("%d media sections; an offer may have at most %d", sections, h.cfg.MaxMediaSections)}
	}
	if candidates > h.cfg.MaxCandidates {
		return h.candidatesError(candidates)
	}
	return nil
}

// checkLines refuses a body with a line longer than MaxSDPLine.
func (h *Handler) checkLines(body string) *problem.Error {
	n := 0
	for line := range strings.Lines(body) {
		n++
		if len(line) > h.cfg.MaxSDPLine {
			return &problem.Error{Status: http.StatusRequestEntityTooLarge, Type: "sdp-line-too-long", Title: "SDP line too long",
				Msg: fmt.Sprintf("line %d has %d bytes; the limit is %d", n, len(line), h.cfg.MaxSDPLine)}
		}
	}
	return nil
}

func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, limit int64) (string, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		problem.Answer(w, r, problem.ErrBodyTooLarge.With(fmt.Sprintf("the limit is %d bytes", limit)))
		return "", false
	}
	if err != nil {
		problem.Answer(w, r, errBadBody.With(err.Error()))
		return "", false
	}
	return string(b), true
}

func (h *Handler) sfuError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case problem.Answer(w, r, err):
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		problem.Answer(w, r, errNegotiationTimeout)
	default:
		h.log.Error("negotiation failed", "path", r.URL.Path, "err", err)
		problem.Answer(w, r, problem.ErrInternal)
	}
}

// countCandidates counts the a=candidate lines of an SDP body.
func countCandidates(sdp string) int {
	n := 0
	for line := range strings.Lines(sdp) {
		if strings.HasPrefix(line, "a=candidate:") {
			n++
		}
	}
	return n
}

func (h *Handler) candidatesError(n int) *problem.Error {
	return &problem.Error{Status: http.StatusRequestEntityTooLarge, Type: "too-many-candidates", Title: "Too many ICE candidates",
		Msg: fmt.Sprintf("%d candidates; a session may have at most %d", n, h.cfg.MaxCandidates)}
}

func (h *Handler) tooManyCandidates(w http.ResponseWriter, r *http.Request, n int) {
	problem.Answer(w, r, h.candidatesError(n))
}

func contentTypeIs(r *http.Request, want string) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == want
}

// keyMatches compares the bearer key's hash with the stored one in constant time.
func keyMatches(r *http.Request, hash []byte) bool {
	auth := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || key == "" || len(hash) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare(HashKey(strings.TrimSpace(key)), hash) == 1
}

func etag(ufrag string) string { return `"` + ufrag + `"` }
