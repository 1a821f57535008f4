package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livegate/livegate/internal/admission"
	"github.com/livegate/livegate/internal/sfu"
)

// Config is a node's place in the fleet.
type Config struct {
	Redis  redis.UniversalClient
	Prefix string
	Self   Node   // ID, URL, Region and Media; the load is filled in by the heartbeat
	Secret []byte // the fleet's shared secret: relay tokens are signed with it
	SFU    *sfu.SFU
	// Capacity is the node's load, sent with its heartbeat, and whether it is full (then
	// no node sends anyone here); nil: an empty node that is never full.
	Capacity Capacity
	// TTL is how long a node's entry and its origin records outlive its last heartbeat.
	TTL time.Duration
	// IdleAfter is how long an edge keeps pulling a stream with no viewer left.
	IdleAfter time.Duration
	// Streams are the fleet's live streams, to end those whose origin node died and
	// whose encoder did not come back (to any node) within OrphanGrace.
	Streams     Streams
	OrphanGrace time.Duration
	Logger      *slog.Logger
}

// Capacity is what the fleet needs of admission.Capacity.
type Capacity interface {
	Load() admission.Load
	Full() bool
}

// Streams lists the live streams and ends one for good (streams.Lifecycle over the store).
type Streams interface {
	Live(ctx context.Context) ([]string, error)
	End(ctx context.Context, id, reason string) error
}

// ReasonOriginLost is why a stream ends when its origin node died and no encoder came
// back within the grace window.
const ReasonOriginLost = "the stream's origin node was lost"

// Fleet is this node's part in the fleet.
type Fleet struct {
	reg       *Registry
	self      Node
	secret    []byte
	sfu       *sfu.SFU
	capacity  Capacity
	ttl       time.Duration
	idleAfter time.Duration
	streams   Streams
	orphanFor time.Duration
	client    *http.Client
	parts     *http.Client // reads recording parts: no overall timeout, a download may be long
	log       *slog.Logger

	mu        sync.Mutex
	pulls     map[string]chan struct{} // streams being pulled now: closed when done
	lastSweep time.Time                // of endOrphans
	draining  bool
	stopped   bool
	wg        sync.WaitGroup // idle watchers and pulls again; Run waits for them
	stop      chan struct{}
}

// New joins the fleet (Run keeps the node registered).
func New(cfg Config) (*Fleet, error) {
	if cfg.Redis == nil || cfg.SFU == nil || cfg.Self.ID == "" || cfg.Self.URL == "" || len(cfg.Secret) < 16 {
		return nil, errors.New("cluster: Redis, SFU, a node id and URL and a secret of 16+ bytes are needed")
	}
	if cfg.TTL <= 0 || cfg.IdleAfter <= 0 {
		return nil, errors.New("cluster: TTL and IdleAfter must be positive")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Capacity == nil {
		cfg.Capacity = idle{}
	}
	return &Fleet{reg: NewRegistry(cfg.Redis, cfg.Prefix, cfg.TTL), self: cfg.Self, secret: cfg.Secret, sfu: cfg.SFU,
		capacity: cfg.Capacity, ttl: cfg.TTL, idleAfter: cfg.IdleAfter, log: cfg.Logger, streams: cfg.Streams, orphanFor: cfg.OrphanGrace,
		client: &http.Client{Timeout: 10 * time.Second}, parts: &http.Client{}, pulls: map[string]chan struct{}{}, stop: make(chan struct{})}, nil
}

// Run keeps the node's entry and its origin records alive until ctx ends, then stops
// the edge's idle watchers.
func (f *Fleet) Run(ctx context.Context) {
	defer func() {
		f.mu.Lock()
		f.stopped = true
		close(f.stop)
		f.mu.Unlock()
		f.wg.Wait()
	}()
	f.heartbeat(ctx)
	t := time.NewTicker(f.ttl / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.heartbeat(ctx)
		}
	}
}

func (f *Fleet) heartbeat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, f.ttl/2)
	defer cancel()
	f.mu.Lock()
	draining := f.draining
	f.mu.Unlock()
	if !draining {
		n := f.self
		l := f.capacity.Load()
		n.Viewers, n.Egress, n.CPU, n.Full = l.Viewers, l.Egress, l.CPU, f.capacity.Full()
		if err := f.reg.Register(ctx, n); err != nil {
			f.log.Warn("fleet heartbeat", "err", err)
		}
	}
	var origins []string
	for _, r := range f.sfu.List() {
		if !r.Relayed() {
			origins = append(origins, r.ID())
		}
	}
	if err := f.reg.renewOrigins(ctx, f.self.ID, origins); err != nil {
		f.log.Warn("renew origins", "err", err)
	}
	if f.streams != nil && !draining && time.Since(f.lastSweep) >= orphanSweep {
		f.lastSweep = time.Now() // the heartbeat's goroutine only
		f.endOrphans(ctx)
	}
}

// orphanSweep is how often a node looks for live streams without an origin (at most
// once a heartbeat): a stream whose encoder did not come back ends within a heartbeat of
// its grace window, for one query of the live streams.
const orphanSweep = time.Second

// heard reports whether n has sent a heartbeat lately: a node that missed two is taken
// for dead, well before its entry lapses.
func (f *Fleet) heard(n Node) bool { return time.Since(n.SeenAt) < f.ttl/2 }

// idle is the capacity of a node that says nothing of its load.
type idle struct{}

func (idle) Load() admission.Load { return admission.Load{} }
func (idle) Full() bool           { return false }

// endOrphans ends the live streams no node has been the origin of for the grace window:
// their origin died and the encoder did not reconnect anywhere. Every node looks; the
// first to see a stream orphaned marks when, and ending twice is harmless.
func (f *Fleet) endOrphans(ctx context.Context) {
	live, err := f.streams.Live(ctx)
	if err != nil {
		f.log.Warn("list live streams", "err", err)
		return
	}
	var elsewhere []string // streams whose encoder is not here: no room, or an edge's
	for _, id := range live {
		if room := f.sfu.Room(id); room == nil || room.Relayed() {
			elsewhere = append(elsewhere, id)
		}
	}
	origins, err := f.reg.originsOf(ctx, elsewhere)
	if err != nil {
		f.log.Warn("look up origins", "err", err)
		return
	}
	nodes, err := f.reg.Nodes(ctx)
	if err != nil {
		return
	}
	byID := map[string]Node{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	// A stream is orphaned from its origin's last heartbeat when that node has gone
	// silent, not from when its entry lapses or a sweep first notices: the grace window
	// an encoder gets counts from when its node died.
	now := time.Now()
	orphans := map[string]time.Time{}
	var found []string
	for _, id := range elsewhere {
		n, registered := byID[origins[id]]
		switch {
		case registered && f.heard(n):
			found = append(found, id)
		case registered:
			orphans[id] = n.SeenAt
		default:
			orphans[id] = now
		}
	}
	// A mark (the first sweep's, any node's, never moved) must last until a sweep past
	// the grace window sees it; it lapses a little after that.
	since, err := f.reg.orphanedSince(ctx, orphans, found, 2*(f.orphanFor+orphanSweep)+f.ttl)
	if err != nil {
		f.log.Warn("mark orphaned streams", "err", err)
		return
	}
	for id := range orphans {
		if at, ok := since[id]; !ok || time.Since(at) < f.orphanFor {
			continue
		}
		f.log.Warn("ending a stream whose origin was lost", "stream", id, "since", since[id])
		if err := f.streams.End(ctx, id, ReasonOriginLost); err != nil {
			f.log.Warn("end orphaned stream", "stream", id, "err", err)
		}
	}
}

// track counts one more goroutine Run waits for; false once Run has stopped.
func (f *Fleet) track() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return false
	}
	f.wg.Add(1)
	return true
}

// Drain takes the node out of the registry first, so that no one is sent here while it
// drains; its origin records stay while its media flows.
func (f *Fleet) Drain(ctx context.Context) {
	f.mu.Lock()
	f.draining = true
	f.mu.Unlock()
	if err := f.reg.Deregister(ctx, f.self.ID); err != nil {
		f.log.Warn("leave the fleet", "err", err)
	}
}

// Live records this node as the stream's origin: its encoder is connected here.
func (f *Fleet) Live(ctx context.Context, stream string) {
	if err := f.reg.ClaimOrigin(ctx, stream, f.self.ID); err != nil {
		f.log.Warn("claim origin", "stream", stream, "err", err)
	}
}

// Ended forgets this node as the stream's origin.
func (f *Fleet) Ended(ctx context.Context, stream string) {
	if err := f.reg.ReleaseOrigin(ctx, stream, f.self.ID); err != nil {
		f.log.Warn("release origin", "stream", stream, "err", err)
	}
}

// PublisherTarget says where a stream's encoder should publish when not here: the node
// that is its origin now (an encoder reconnecting to another node goes back to where its
// viewers' media comes from), or, from a draining node, the least loaded other one. ""
// is here.
func (f *Fleet) PublisherTarget(ctx context.Context, stream string) string {
	if room := f.sfu.Room(stream); room != nil && !room.Relayed() {
		return "" // the encoder's room is here
	}
	origin, ok, err := f.reg.Origin(ctx, stream)
	if err == nil && ok && origin.ID != f.self.ID {
		if f.reachable(ctx, origin) {
			return origin.URL
		}
		// A dead origin is never where an encoder is sent: it becomes the stream's origin
		// wherever it reconnects, here, and the edges pull from here.
		f.log.Warn("the stream's origin does not answer; its encoder publishes here", "stream", stream, "origin", origin.ID)
	}
	if f.isDraining() || f.capacity.Full() {
		return f.elsewhere(ctx)
	}
	return ""
}

// reachable reports whether node answers: it has sent a heartbeat lately and its
// health endpoint answers at once (a killed node's port refuses at once; one whose host
// died does not answer within probeTimeout).
func (f *Fleet) reachable(ctx context.Context, n Node) bool {
	if !f.heard(n) {
		return false
	}
	base := n.Internal
	if base == "" {
		base = n.URL
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// probeTimeout bounds how long an encoder's POST waits to learn its origin is gone.
const probeTimeout = 500 * time.Millisecond

// Elsewhere is the URL of the least loaded other node that takes work, "" when there
// is none: where a full node sends a viewer instead of refusing it.
func (f *Fleet) Elsewhere(ctx context.Context) string { return f.elsewhere(ctx) }

// ViewerTarget says where a viewer should go instead of this node: elsewhere while it
// drains. "" is here.
func (f *Fleet) ViewerTarget(ctx context.Context) string {
	if f.isDraining() {
		return f.elsewhere(ctx)
	}
	return ""
}

func (f *Fleet) isDraining() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.draining
}

// elsewhere is the URL of the least loaded other node with room, "" when there is none.
func (f *Fleet) elsewhere(ctx context.Context) string {
	others, err := f.Others(ctx)
	if err != nil || len(others) == 0 || others[0].Full {
		return ""
	}
	return others[0].URL
}

// Others lists the fleet's other live nodes, those with room first, each part least
// loaded first: where a viewer or a publisher goes instead of this node.
func (f *Fleet) Others(ctx context.Context) ([]Node, error) {
	nodes, err := f.reg.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	others := nodes[:0]
	for _, n := range nodes {
		if n.ID != f.self.ID {
			others = append(others, n)
		}
	}
	sort.Slice(others, func(i, j int) bool {
		if others[i].Full != others[j].Full {
			return !others[i].Full
		}
		return others[i].Viewers < others[j].Viewers
	})
	return others, nil
}

// Nodes lists the fleet's live nodes.
func (f *Fleet) Nodes(ctx context.Context) ([]Node, error) { return f.reg.Nodes(ctx) }

// OriginID reports the id of the stream's origin node, when a live node is (one that
// stopped sending heartbeats is not, although its entry has not lapsed yet).
func (f *Fleet) OriginID(ctx context.Context, stream string) (string, bool, error) {
	n, ok, err := f.reg.Origin(ctx, stream)
	return n.ID, ok && f.heard(n), err
}

// Pull makes sure this node has the stream's room, pulling it from its origin when
// another node is. It returns nil without a room when no node has the stream (the
// caller answers "not live"); concurrent pulls of one stream wait for the first.
func (f *Fleet) Pull(ctx context.Context, stream string) error {
	for {
		if f.sfu.Room(stream) != nil {
			return nil
		}
		f.mu.Lock()
		wait, busy := f.pulls[stream]
		if !busy {
			wait = make(chan struct{})
			f.pulls[stream] = wait
		}
		f.mu.Unlock()
		if busy {
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := f.pull(ctx, stream)
		f.mu.Lock()
		delete(f.pulls, stream)
		f.mu.Unlock()
		close(wait)
		return err
	}
}

func (f *Fleet) pull(ctx context.Context, stream string) error {
	origin, ok, err := f.reg.Origin(ctx, stream)
	if err != nil {
		return fmt.Errorf("find the origin: %w", err)
	}
	if !ok || origin.ID == f.self.ID || !f.heard(origin) {
		return nil // no origin, or a dead one: nothing to pull yet
	}
	start := time.Now()
	existing := f.sfu.Room(stream)
	var layout []sfu.RelayTrack
	for attempt := 0; ; attempt++ {
		layout, err = f.fetchLayout(ctx, origin, stream)
		if errors.Is(err, errNotOrigin) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = f.sfu.Pull(ctx, stream, layout, f.dialer(origin, stream), sfu.PublishOptions{
			OnEnd: func(reason string, _ bool) {
				f.log.Info("relay ended", "stream", stream, "origin", origin.ID, "reason", reason)
			},
			OnLost: func() { f.repull(context.WithoutCancel(ctx), stream) },
		})
		// A layer that started between the layout and the offer: ask again.
		if !errors.Is(err, errLayoutChanged) || attempt == 2 {
			break
		}
	}
	if errors.Is(err, sfu.ErrRoomExists) {
		return nil
	}
	if err != nil {
		return err
	}
	f.log.Info("pulling from the origin", "stream", stream, "origin", origin.ID, "tracks", len(layout),
		"took", time.Since(start).Round(time.Millisecond).String())
	if existing == nil {
		f.watchIdle(stream)
	}
	return nil
}

// repull pulls a stream again into its room after the relay was lost: the origin closed
// it to offer a new layer, or the origin is gone and another node will be (the encoder
// reconnects there). The room waits, its viewers attached, while this looks for the
// stream's origin a few times a second, until a relay is in or the room gives up.
func (f *Fleet) repull(ctx context.Context, stream string) {
	if !f.track() {
		return
	}
	defer f.wg.Done()
	for {
		room := f.sfu.Room(stream)
		if room == nil || !room.Relayed() {
			return
		}
		if waiting, _ := room.Reconnecting(); !waiting {
			return // a relay is in again
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := f.pull(pctx, stream); err != nil {
			f.log.Debug("pull again", "stream", stream, "err", err)
		}
		cancel()
		select {
		case <-f.stop:
			return
		case <-room.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// watchIdle closes the stream's pulled room once it has had no viewer for IdleAfter.
func (f *Fleet) watchIdle(stream string) {
	room := f.sfu.Room(stream)
	if room == nil || !f.track() {
		return
	}
	go func() {
		defer f.wg.Done()
		t := time.NewTicker(min(time.Second, f.idleAfter/2))
		defer t.Stop()
		var idleSince time.Time
		for {
			select {
			case <-f.stop:
				return
			case <-room.Done():
				return
			case now := <-t.C:
				if !room.Relayed() {
					return // the encoder came here: the room is an origin now
				}
				if room.Subscribers() > 0 {
					idleSince = time.Time{}
					continue
				}
				if idleSince.IsZero() {
					idleSince = now
				}
				if now.Sub(idleSince) >= f.idleAfter {
					room.Close("no viewer left on this edge")
					return
				}
			}
		}
	}()
}
