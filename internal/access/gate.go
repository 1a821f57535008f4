package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/livegate/livegate/internal/ids"
	"github.com/livegate/livegate/internal/notify"
	"github.com/livegate/livegate/internal/problem"
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
	revoked   Revocations
	recheck   time.Duration
	tokens    *PlaybackTokens
	node      string
	ttl       time.Duration
	heartbeat time.Duration
	log       *slog.Logger
	metrics   *Metrics
	events    Events
	bans      Bans

	mu   sync.Mutex
	live map[string]*liveSession
	// bookkeeping counts what is still being written of sessions that ended (their end,
	// preview time, events): a node that stops waits for it before closing its stores.
	bookkeeping tracker
}

// tracker runs functions in goroutines and lets a caller wait until none runs. Unlike a
// WaitGroup, more may start while someone waits (a viewer connecting during a drain).
type tracker struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0; nil when nobody waits
}

// Go runs f in a goroutine of its own, counted until it returns.
func (t *tracker) Go(f func()) {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
	go func() {
		defer t.done()
		f()
	}()
}

func (t *tracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n--; t.n == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

// idleCh is closed once nothing runs (already closed when nothing does).
func (t *tracker) idleCh() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	return t.idle
}

type liveSession struct {
	sessions.Session
	close     func(reason sessions.Reason)
	accounted time.Time // preview time booked up to here
	timer     *time.Timer
}

// Revocations reads revoked entitlements from durable data (SQL): the truth a node
// re-checks its viewers against, so a revocation whose fan-out message was lost still
// ends the viewer's media.
type Revocations interface {
	RevokedEntitlements(ctx context.Context, ids []string) ([]store.Entitlement, error)
}

// Events tells the embedding platform of sessions starting and ending (notify.Emitter).
type Events interface {
	Emit(ctx context.Context, typ, key string, data any)
}

// GateConfig tunes a Gate.
type GateConfig struct {
	Node string
	// Revocations, when set, is checked on every admission and every Recheck for the
	// entitlements of live sessions.
	Revocations Revocations
	// Recheck is how often live sessions are checked against Revocations (default
	// 500ms, so a revocation the fan-out missed still ends media within a second).
	Recheck time.Duration
	// TTL is how long a session outlives its node's last heartbeat (a crashed node's
	// viewers vanish from counts after this).
	TTL       time.Duration
	Heartbeat time.Duration
	Logger    *slog.Logger
	// Metrics, when nil, are kept but not registered anywhere.
	Metrics *Metrics
	// Events, when set, hears of each session whose media started, and of its end.
	Events Events
	// Bans, when set, refuses a token whose viewer was banned after it was issued.
	Bans Bans
}

// NewGate returns a gate over a session store. TTL comes from the node's configuration
// as it is; Heartbeat (TTL/3) and Recheck (500 ms) default when zero, as no operator
// sets them.
func NewGate(st sessions.Store, tokens *PlaybackTokens, cfg GateConfig) (*Gate, error) {
	if cfg.TTL <= 0 {
		return nil, fmt.Errorf("gate: session TTL %v must be positive", cfg.TTL)
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = cfg.TTL / 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Recheck <= 0 {
		cfg.Recheck = 500 * time.Millisecond
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	return &Gate{store: st, revoked: cfg.Revocations, recheck: cfg.Recheck, tokens: tokens, node: cfg.Node, ttl: cfg.TTL,
		heartbeat: cfg.Heartbeat, log: cfg.Logger, metrics: cfg.Metrics, events: cfg.Events, bans: cfg.Bans, live: map[string]*liveSession{}}, nil
}

// Store is the session store behind the gate.
func (g *Gate) Store() sessions.Store { return g.store }

// Admission errors.
var (
	// ErrSessionLimit means the viewer has as many sessions as the stream allows.
	ErrSessionLimit = &problem.Error{Status: http.StatusConflict, Type: "session-limit", Title: "Too many sessions",
		Msg: "too many concurrent sessions for this viewer", Hint: "this viewer is already watching as many times as the stream allows"}
	// ErrRevoked means the access the token was issued for has ended since.
	ErrRevoked = &problem.Error{Status: http.StatusForbidden, Type: "access-revoked", Title: "Access revoked", Msg: "access revoked"}
	// ErrPreviewUsed means the viewer has watched all of the stream's free preview.
	// What is left under MinPreview counts as watched: booked time is whole
	// milliseconds per heartbeat, so a finished preview can leave a sliver that would
	// otherwise open one more session per token.
	ErrBanned = &problem.Error{Status: http.StatusForbidden, Type: "viewer-banned", Title: "You may not watch this stream",
		Msg: "an operator banned this viewer"}
	ErrPreviewUsed = &problem.Error{Status: http.StatusPaymentRequired, Type: "preview-ended", Title: "Free preview used up",
		Msg: "free preview used up"}
)

// Banned is ErrBanned saying until when.
func Banned(until time.Time) error {
	return fmt.Errorf("%w until %s", ErrBanned, until.UTC().Format(time.RFC3339))
}

// Bans are operators' bans of viewers, read on every admission.
type Bans interface {
	ActiveBan(ctx context.Context, viewerID, streamID, creatorID string, now time.Time) (store.Ban, error)
}

// MinPreview is the least preview worth a session: less than this left is used up.
const MinPreview = time.Second

// Admit checks a WHEP join and opens its session. Free streams admit anonymous viewers
// without a token. A token opens one session, ever; before answering, the gate checks that
// nothing the token stands on was revoked since it was issued (the fleet's revocation
// records and, for paid access, the durable entitlement), and charges a preview against
// what the viewer has already watched of this stream.
func (g *Gate) Admit(ctx context.Context, token string, st store.Stream) (_ Pass, err error) {
	defer func() { g.metrics.admitted(err) }()
	now := time.Now()
	if token == "" {
		if st.AccessMode != store.AccessFree {
			return Pass{}, fmt.Errorf("%w: this stream needs a playback token from POST /v1/streams/%s/access", ErrBadPlaybackToken, st.ID)
		}
		id := ids.Session()
		s := sessions.Session{ID: id, NodeID: g.node, StreamID: st.ID, ViewerID: "anon:" + id, Entitlement: sessions.EntitlementFree, StartedAt: now}
		if _, err := g.store.Open(ctx, s, sessions.Limit{}, g.ttl); err != nil {
			return Pass{}, err
		}
		return Pass{Session: s}, nil
	}
	c, err := g.tokens.Verify(token, st.ID)
	if err != nil {
		return Pass{}, err
	}
	// Whether a token was spent is only known since the store's memory began.
	epoch, err := g.store.Epoch(ctx)
	if err != nil {
		return Pass{}, err
	}
	if c.IssuedAt == nil || sessions.IssuedBeforeEpoch(c.IssuedAt.Time, epoch) {
		return Pass{}, fmt.Errorf("%w: issued before the session store last lost its memory: POST /v1/streams/%s/access for a new one",
			ErrBadPlaybackToken, st.ID)
	}
	s := sessions.Session{ID: c.ID, NodeID: g.node, StreamID: st.ID, ViewerID: c.Subject, Country: c.Country,
		Entitlement: c.Entitlement, Preview: c.Entitlement == sessions.EntitlementPreview, StartedAt: now}
	if err := g.stillValid(ctx, s); err != nil {
		return Pass{}, err
	}
	if g.bans != nil {
		switch b, err := g.bans.ActiveBan(ctx, s.ViewerID, st.ID, st.CreatorID, now); {
		case err == nil:
			return Pass{}, Banned(b.Until)
		case errors.Is(err, store.ErrUnavailable):
			// No ban can be made while the database is away either: the bans are those
			// the viewer's token was issued under.
			g.log.Warn("bans unreadable: the database is away; the token decides", "session", s.ID)
		case !errors.Is(err, store.ErrNotFound):
			return Pass{}, fmt.Errorf("%w: check bans: %v", sessions.ErrUnavailable, err)
		}
	}
	// The cap is per entitlement: free streams have none to share, so no cap.
	lim := sessions.Limit{Max: st.MaxSessions, Replace: st.SessionPolicy == store.PolicyReplace}
	var preview time.Duration
	switch {
	case st.AccessMode == store.AccessFree:
		lim = sessions.Limit{}
	case s.Preview:
		// Preview time belongs to the viewer and stream, not to a token: what is left is
		// what the store says now, and one preview plays at a time (a new one takes over).
		used, err := g.store.PreviewUsed(ctx, sessions.Watch{Viewer: s.ViewerID, Stream: st.ID})
		if err != nil {
			return Pass{}, err
		}
		if sessions.PreviewsForgotten(st.StartedAt, epoch) {
			used = time.Duration(st.PreviewSeconds) * time.Second
		}
		preview = min(time.Duration(c.PreviewMillis)*time.Millisecond, time.Duration(st.PreviewSeconds)*time.Second-used)
		if preview < MinPreview {
			return Pass{}, fmt.Errorf("%w: POST /v1/streams/%s/access to buy access", ErrPreviewUsed, st.ID)
		}
		lim = sessions.Limit{Max: 1, Replace: true}
	}
	kicked, err := g.store.Open(ctx, s, lim, g.ttl)
	switch {
	case errors.Is(err, sessions.ErrLimit):
		return Pass{}, ErrSessionLimit
	case errors.Is(err, sessions.ErrExists):
		return Pass{}, fmt.Errorf("%w: already used (a playback token opens one session)", ErrBadPlaybackToken)
	case err != nil:
		return Pass{}, err
	}
	for _, k := range kicked {
		if err := g.store.Publish(ctx, sessions.Event{Kind: sessions.EventSession, SessionID: k.ID, Reason: sessions.ReasonReplaced}); err != nil {
			g.log.Warn("publish kick", "session", k.ID, "err", err)
		}
	}
	return Pass{Session: s, Preview: preview}, nil
}

// stillValid refuses a session whose session id, stream or entitlement was revoked
// after its token was issued.
func (g *Gate) stillValid(ctx context.Context, s sessions.Session) error {
	recorded, err := g.store.Revoked(ctx, []sessions.Session{s})
	if err != nil {
		return err
	}
	if len(recorded) > 0 {
		return fmt.Errorf("%w: %s", ErrRevoked, recorded[0].Reason)
	}
	if g.revoked == nil || !s.Paid() {
		return nil
	}
	ents, err := g.revoked.RevokedEntitlements(ctx, []string{s.Entitlement})
	if errors.Is(err, store.ErrUnavailable) {
		// No refund or dispute is booked while the database is away (Stripe retries its
		// webhooks until it is back), and one booked before is in the markers read above:
		// the viewer's token decides.
		g.log.Warn("entitlement unreadable: the database is away; the token decides", "session", s.ID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: check entitlement: %v", sessions.ErrUnavailable, err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("%w: %s", ErrRevoked, ents[0].RevokedReason)
	}
	return nil
}

// Attach ties an admitted session to the viewer's media connection: close drops the
// viewer. The connection calls the returned gone when it ends for any reason; gone does
// not block (the store hears of it in the background).
func (g *Gate) Attach(p Pass, close func(reason sessions.Reason)) (gone func()) {
	ls := &liveSession{Session: p.Session, close: close, accounted: time.Now()}
	g.mu.Lock()
	g.live[p.Session.ID] = ls
	if p.Session.Preview {
		ls.timer = time.AfterFunc(p.Preview, func() {
			if g.End(p.Session.ID, sessions.ReasonPreviewEnded) {
				g.metrics.PreviewsEnded.Inc()
			}
		})
	}
	g.mu.Unlock()
	return func() {
		if ls := g.take(p.Session.ID); ls != nil {
			g.bookkeeping.Go(func() { g.finish(context.Background(), ls, sessions.ReasonViewerLeft) })
		}
	}
}

// Connected counts an attached session among its stream's viewers, now that its media
// flows; preview time is charged from here. It does not block.
func (g *Gate) Connected(id string) {
	g.mu.Lock()
	ls := g.live[id]
	if ls == nil {
		g.mu.Unlock()
		return
	}
	ls.Connected = true
	ls.accounted = time.Now()
	s := ls.Session
	g.mu.Unlock()
	g.bookkeeping.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		g.emit(ctx, notify.SessionStarted, s, "")
		// If this fails, the next heartbeat's Refresh counts the connected session.
		if err := g.store.Connect(ctx, s, g.ttl); err != nil && !errors.Is(err, sessions.ErrNotFound) {
			g.log.Warn("count connected session", "session", id, "err", err)
		}
	})
}

// Release ends a session whose viewer never got connected.
func (g *Gate) Release(p Pass, reason sessions.Reason) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := g.store.End(ctx, p.Session.ID, reason); err != nil {
		g.log.Warn("end session", "session", p.Session.ID, "err", err)
	}
}

// EndAll drops every live session of this node for reason, each recorded as ended (its
// preview time booked, session.ended emitted) before EndAll returns or ctx is done:
// what a node does last before it closes its stores.
func (g *Gate) EndAll(ctx context.Context, reason sessions.Reason) {
	g.mu.Lock()
	ids := slices.Collect(maps.Keys(g.live))
	g.mu.Unlock()
	for _, id := range ids {
		if ls := g.take(id); ls != nil {
			g.log.Info("session ended", "session", id, "stream", ls.StreamID, "reason", reason)
			ls.close(reason)
			g.bookkeeping.Go(func() { g.finish(ctx, ls, reason) })
		}
	}
	g.Flush(ctx)
}

// Flush waits until what ended sessions still have to write is written, or ctx is done.
func (g *Gate) Flush(ctx context.Context) {
	select {
	case <-g.bookkeeping.idleCh():
	case <-ctx.Done():
		g.log.Warn("stopping with sessions' bookkeeping unwritten", "err", ctx.Err())
	}
}

// End drops a live session of this node for reason; the viewer's media stops at once.
func (g *Gate) End(id string, reason sessions.Reason) bool {
	ls := g.take(id)
	if ls == nil {
		return false
	}
	g.log.Info("session ended", "session", id, "stream", ls.StreamID, "reason", reason)
	ls.close(reason)
	g.finish(context.Background(), ls, reason)
	return true
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

// finish books the preview time used and ends the session in the store. The viewer is
// gone whatever happens to the caller's context: the bookkeeping has its own bound.
func (g *Gate) finish(ctx context.Context, ls *liveSession, reason sessions.Reason) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if ls.Preview {
		if _, err := g.store.AddPreview(ctx, sessions.Watch{Viewer: ls.ViewerID, Stream: ls.StreamID}, time.Since(ls.accounted)); err != nil {
			g.log.Warn("book preview time", "session", ls.ID, "err", err)
		}
	}
	if err := g.store.End(ctx, ls.ID, reason); err != nil {
		g.log.Warn("end session", "session", ls.ID, "err", err)
	}
	if ls.Connected {
		g.emit(ctx, notify.SessionEnded, ls.Session, string(reason))
	}
}

// emit tells the platform of a session's start or end, keyed by the session: each is
// one event however often it is said.
func (g *Gate) emit(ctx context.Context, typ string, s sessions.Session, reason string) {
	if g.events == nil {
		return
	}
	data := map[string]any{"session_id": s.ID, "stream_id": s.StreamID, "viewer_id": s.ViewerID, "node_id": s.NodeID,
		"country": s.Country, "entitlement": s.Entitlement, "preview": s.Preview, "started_at": s.StartedAt, "at": time.Now().UTC()}
	if reason != "" {
		data["reason"] = reason
	}
	g.events.Emit(ctx, typ, s.ID, data)
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
	// The SQL re-check has a loop of its own: a heartbeat or bookkeeping call stuck on
	// a paused Redis must not hold back the one path that works without Redis.
	rechecking := make(chan struct{})
	go func() {
		defer close(rechecking)
		recheck := time.NewTicker(g.recheck)
		defer recheck.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-recheck.C:
				g.recheckEntitlements(ctx)
			}
		}
	}()
	defer func() { <-rechecking }()
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
			g.apply(ctx, e)
		case <-tick.C:
			err := g.beat(ctx)
			switch {
			case err != nil && !failing:
				g.log.Warn("session store unreachable; media keeps flowing, new joins get 503", "err", err)
				g.metrics.SessionStore.Set(0)
				failing = true
			case err == nil && failing:
				g.log.Info("session store back; live sessions re-registered", "sessions", len(g.Live()))
				g.metrics.SessionStore.Set(1)
				failing = false
			}
		}
	}
}

// recheckEntitlements ends live sessions whose entitlement is revoked in durable data,
// whether or not the fan-out reached this node (Redis away, a message lost).
func (g *Gate) recheckEntitlements(ctx context.Context) {
	if g.revoked == nil {
		return
	}
	g.mu.Lock()
	seen := map[string]bool{}
	var ids []string
	for _, ls := range g.live {
		if ls.Session.Paid() && !seen[ls.Entitlement] {
			seen[ls.Entitlement] = true
			ids = append(ids, ls.Entitlement)
		}
	}
	g.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, g.recheck)
	defer cancel()
	ents, err := g.revoked.RevokedEntitlements(cctx, ids)
	if err != nil {
		g.log.Warn("re-check entitlements", "err", err)
		return
	}
	for _, e := range ents {
		g.apply(ctx, sessions.Event{Kind: sessions.EventEntitlement, EntitlementID: e.ID, Reason: sessions.ReasonRevoked(e.RevokedReason)})
	}
}

func (g *Gate) apply(ctx context.Context, e sessions.Event) {
	g.mu.Lock()
	var ids []string
	for id, ls := range g.live {
		if e.Matches(ls.Session) {
			ids = append(ids, id)
		}
	}
	g.mu.Unlock()
	// Every matching viewer's media stops first; the store hears of it after, so a slow
	// store delays bookkeeping, never the cut.
	var ended []*liveSession
	for _, id := range ids {
		if ls := g.take(id); ls != nil {
			g.log.Info("session ended", "session", id, "stream", ls.StreamID, "reason", e.Reason)
			g.metrics.SessionsCut.Inc() // before the cut, so whoever sees the cut sees it counted
			ls.close(e.Reason)
			ended = append(ended, ls)
		}
	}
	for _, ls := range ended {
		g.finish(ctx, ls, e.Reason)
	}
}

func (g *Gate) beat(ctx context.Context) error {
	now := time.Now()
	g.mu.Lock()
	live := make([]sessions.Session, 0, len(g.live))
	type pv struct {
		watch sessions.Watch
		d     time.Duration
	}
	var previews []pv
	for _, ls := range g.live {
		live = append(live, ls.Session)
		if ls.Preview {
			previews = append(previews, pv{sessions.Watch{Viewer: ls.ViewerID, Stream: ls.StreamID}, now.Sub(ls.accounted)})
			ls.accounted = now
		}
	}
	g.mu.Unlock()
	bctx, cancel := context.WithTimeout(ctx, g.heartbeat)
	defer cancel()
	for _, p := range previews {
		if _, err := g.store.AddPreview(bctx, p.watch, p.d); err != nil {
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
		g.apply(bctx, e)
	}
	// What is still live after the revocations is what stays alive.
	return g.store.Refresh(bctx, g.Live(), g.ttl)
}
