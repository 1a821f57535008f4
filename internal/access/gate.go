package access

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/store"
)

// Pass is an admitted viewer: the session opened for it and the preview time it has.
type Pass struct {
	Session sessions.Session
	Preview time.Duration
}

// Gate is this node's door for viewers: it checks playback tokens, opens sessions under
// the stream's cap before the SFU answers, keeps them alive in the store while the viewer
// is connected, and drops them when access ends anywhere in the fleet.
type Gate struct {
	store     sessions.Store
	tokens    *PlaybackTokens
	node      string
	ttl       time.Duration
	heartbeat time.Duration
	log       *slog.Logger

	mu   sync.Mutex
	live map[string]*liveSession
}

type liveSession struct {
	sessions.Session
	close     func(reason string)
	accounted time.Time // preview time booked up to here
	timer     *time.Timer
}

// GateConfig tunes a Gate.
type GateConfig struct {
	Node string
	// TTL is how long a session outlives its node's last heartbeat (a crashed node's
	// viewers vanish from counts after this).
	TTL       time.Duration
	Heartbeat time.Duration
	Logger    *slog.Logger
}

// NewGate returns a gate over a session store.
func NewGate(st sessions.Store, tokens *PlaybackTokens, cfg GateConfig) *Gate {
	if cfg.TTL <= 0 {
		cfg.TTL = 15 * time.Second
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = cfg.TTL / 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Gate{store: st, tokens: tokens, node: cfg.Node, ttl: cfg.TTL, heartbeat: cfg.Heartbeat, log: cfg.Logger,
		live: map[string]*liveSession{}}
}

// Store is the session store behind the gate.
func (g *Gate) Store() sessions.Store { return g.store }

// Tokens signs playback tokens.
func (g *Gate) Tokens() *PlaybackTokens { return g.tokens }

// ErrSessionLimit means the viewer has as many sessions as the stream allows.
var ErrSessionLimit = errors.New("too many concurrent sessions for this viewer")

// Admit checks a WHEP join and opens its session. Free streams admit anonymous viewers
// without a token.
func (g *Gate) Admit(ctx context.Context, token string, st store.Stream) (Pass, error) {
	now := time.Now()
	if token == "" {
		if st.AccessMode != store.AccessFree {
			return Pass{}, fmt.Errorf("%w: this stream needs a playback token from POST /v1/streams/%s/access", ErrBadPlaybackToken, st.ID)
		}
		id := newID()
		s := sessions.Session{ID: id, NodeID: g.node, StreamID: st.ID, ViewerID: "anon:" + id, Entitlement: "free", StartedAt: now}
		if _, err := g.store.Open(ctx, s, sessions.Limit{}, g.ttl); err != nil {
			return Pass{}, err
		}
		return Pass{Session: s}, nil
	}
	c, err := g.tokens.Verify(token, st.ID)
	if err != nil {
		return Pass{}, err
	}
	s := sessions.Session{ID: c.ID, NodeID: g.node, StreamID: st.ID, ViewerID: c.Subject, Country: c.Country,
		Entitlement: c.Entitlement, Preview: c.Entitlement == "preview", StartedAt: now}
	// The cap is per entitlement: free streams have none to share, so no cap.
	lim := sessions.Limit{Max: st.MaxSessions, Replace: st.SessionPolicy == store.PolicyReplace}
	if st.AccessMode == store.AccessFree {
		lim = sessions.Limit{}
	}
	kicked, err := g.store.Open(ctx, s, lim, g.ttl)
	switch {
	case errors.Is(err, sessions.ErrLimit):
		return Pass{}, ErrSessionLimit
	case errors.Is(err, sessions.ErrExists):
		return Pass{}, fmt.Errorf("%w: already used", ErrBadPlaybackToken)
	case err != nil:
		return Pass{}, err
	}
	for _, k := range kicked {
		if err := g.store.Publish(ctx, sessions.Event{Kind: sessions.EventSession, SessionID: k.ID, Reason: "replaced by a newer session"}); err != nil {
			g.log.Warn("publish kick", "session", k.ID, "err", err)
		}
	}
	return Pass{Session: s, Preview: time.Duration(c.PreviewMillis) * time.Millisecond}, nil
}

// Attach ties an admitted session to the viewer's media connection: close drops the
// viewer; done is closed when the connection is gone for any reason.
func (g *Gate) Attach(p Pass, close func(reason string), done <-chan struct{}) {
	ls := &liveSession{Session: p.Session, close: close, accounted: time.Now()}
	g.mu.Lock()
	g.live[p.Session.ID] = ls
	if p.Session.Preview {
		ls.timer = time.AfterFunc(p.Preview, func() { g.End(p.Session.ID, "preview ended") })
	}
	g.mu.Unlock()
	go func() {
		<-done
		g.release(p.Session.ID, "viewer left")
	}()
}

// Release ends a session whose viewer never got connected.
func (g *Gate) Release(p Pass, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := g.store.End(ctx, p.Session.ID, reason); err != nil {
		g.log.Warn("end session", "session", p.Session.ID, "err", err)
	}
}

// End drops a live session of this node for reason; the viewer's media stops at once.
func (g *Gate) End(id, reason string) bool {
	ls := g.take(id)
	if ls == nil {
		return false
	}
	g.log.Info("session ended", "session", id, "stream", ls.StreamID, "reason", reason)
	ls.close(reason)
	g.finish(ls, reason)
	return true
}

func (g *Gate) release(id, reason string) {
	if ls := g.take(id); ls != nil {
		g.finish(ls, reason)
	}
}

func (g *Gate) take(id string) *liveSession {
	g.mu.Lock()
	defer g.mu.Unlock()
	ls := g.live[id]
	if ls != nil {
		delete(g.live, id)
		if ls.timer != nil {
			ls.timer.Stop()
		}
	}
	return ls
}

// finish books the preview time used and ends the session in the store.
func (g *Gate) finish(ls *liveSession, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if ls.Preview {
		if _, err := g.store.AddPreview(ctx, ls.ViewerID, ls.StreamID, time.Since(ls.accounted)); err != nil {
			g.log.Warn("book preview time", "session", ls.ID, "err", err)
		}
	}
	if err := g.store.End(ctx, ls.ID, reason); err != nil {
		g.log.Warn("end session", "session", ls.ID, "err", err)
	}
}

// Live lists this node's sessions.
func (g *Gate) Live() []sessions.Session {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]sessions.Session, 0, len(g.live))
	for _, ls := range g.live {
		out = append(out, ls.Session)
	}
	return out
}

// Publish sends an event to every node (this one included).
func (g *Gate) Publish(ctx context.Context, e sessions.Event) error { return g.store.Publish(ctx, e) }

// Run keeps this node's sessions alive in the store and applies revocations from every
// node, until ctx ends. While the store is down, media keeps flowing and heartbeats keep
// trying; the first one that succeeds re-registers every live session.
func (g *Gate) Run(ctx context.Context) {
	events := g.store.Events(ctx)
	tick := time.NewTicker(g.heartbeat)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			g.apply(e)
		case <-tick.C:
			err := g.beat(ctx)
			switch {
			case err != nil && !failing:
				g.log.Warn("session store unreachable; media keeps flowing, new joins get 503", "err", err)
				failing = true
			case err == nil && failing:
				g.log.Info("session store back; live sessions re-registered", "sessions", len(g.Live()))
				failing = false
			}
		}
	}
}

func (g *Gate) apply(e sessions.Event) {
	g.mu.Lock()
	var ids []string
	for id, ls := range g.live {
		if e.Matches(ls.Session) {
			ids = append(ids, id)
		}
	}
	g.mu.Unlock()
	for _, id := range ids {
		g.End(id, e.Reason)
	}
}

func (g *Gate) beat(ctx context.Context) error {
	now := time.Now()
	g.mu.Lock()
	live := make([]sessions.Session, 0, len(g.live))
	type pv struct {
		viewer, stream string
		d              time.Duration
	}
	var previews []pv
	for _, ls := range g.live {
		live = append(live, ls.Session)
		if ls.Preview {
			previews = append(previews, pv{ls.ViewerID, ls.StreamID, now.Sub(ls.accounted)})
			ls.accounted = now
		}
	}
	g.mu.Unlock()
	bctx, cancel := context.WithTimeout(ctx, g.heartbeat)
	defer cancel()
	for _, p := range previews {
		if _, err := g.store.AddPreview(bctx, p.viewer, p.stream, p.d); err != nil {
			return err // the unbooked time is lost with a down store; the timer still ends the preview
		}
	}
	// A revocation whose message this node missed (its subscription was reconnecting)
	// is still recorded: act on it before keeping the session alive.
	revoked, err := g.store.Revoked(bctx, live)
	if err != nil {
		return err
	}
	for _, e := range revoked {
		g.apply(e)
	}
	// What is still live after the revocations is what stays alive.
	return g.store.Refresh(bctx, g.Live(), g.ttl)
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewSessionID is a fresh session id for a playback token.
func NewSessionID() string { return newID() }
