// Package streams owns a live stream's life on a node: going live when its publisher
// connects, and ending, here and on every other node, whether the creator's encoder left
// or an operator ended the show. The WHIP handler and the API both go through it, so a
// stream ends the same way whoever ends it.
package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/livegate/livegate/internal/notify"
	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/store"
)

// Store is the durable state a stream's life changes.
type Store interface {
	MarkStreamLive(ctx context.Context, id string, at time.Time) error
	EndStream(ctx context.Context, id string, at time.Time) error
}

// Rooms ends a stream's media on this node: the publisher and its viewers.
type Rooms interface {
	EndRoom(streamID, reason string)
}

// Fanout tells every node's gate, so viewers of the stream on other nodes go too.
type Fanout interface {
	Publish(ctx context.Context, e sessions.Event) error
}

// Events tells the embedding platform what happened (notify.Emitter). Emitting the same
// key twice is one event.
type Events interface {
	Emit(ctx context.Context, typ, key string, data any)
}

// Lifecycle is the one owner of going live and ending.
type Lifecycle struct {
	store  Store
	rooms  Rooms
	fanout Fanout
	events Events
	log    *slog.Logger

	// owed are the changes the database was away for, by stream, written by Run (with
	// their true times) once it is back.
	mu   sync.Mutex
	owed map[string]*owed
	wake chan struct{}
}

// owed is what a stream's durable state still lacks.
type owed struct {
	liveAt, endedAt time.Time
	reason          string
}

// New returns the lifecycle of a node's streams; events may be nil.
func New(st Store, rooms Rooms, fanout Fanout, events Events, log *slog.Logger) *Lifecycle {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Lifecycle{store: st, rooms: rooms, fanout: fanout, events: events, log: log,
		owed: map[string]*owed{}, wake: make(chan struct{}, 1)}
}

func (l *Lifecycle) emit(ctx context.Context, typ, id, reason string, at time.Time) {
	if l.events == nil {
		return
	}
	data := map[string]any{"stream_id": id, "at": at.UTC()}
	if reason != "" {
		data["reason"] = reason
	}
	// Keyed by the stream: an encoder reconnecting makes no second stream.live.
	l.events.Emit(context.WithoutCancel(ctx), typ, id, data)
}

// ReasonEndedByCreator is why a room closes when its stream is ended through the API.
const ReasonEndedByCreator = "stream ended by the creator"

// WentLive records that the stream's publisher is connected. A stream ended meanwhile
// (between the WHIP offer and the connection) stays ended: its room closes.
func (l *Lifecycle) WentLive(ctx context.Context, id string) {
	now := time.Now()
	err := l.store.MarkStreamLive(ctx, id, now)
	if err == nil {
		l.emit(ctx, notify.StreamLive, id, "", now)
		return
	}
	if errors.Is(err, store.ErrUnavailable) {
		l.owe(id, func(o *owed) { o.liveAt = now })
		return
	}
	l.log.Warn("mark stream live", "stream", id, "err", err)
	if errors.Is(err, store.ErrConflict) {
		l.rooms.EndRoom(id, ReasonEndedByCreator)
	}
}

// End ends a stream for good, everywhere: its durable state, its room on this node, and
// its viewers on every node. The room's reason is reason; ending an ended stream again
// is harmless.
//
// With the database away the media still ends everywhere now; the stream's durable end
// is written, with this moment as its time, when the database is back (Run).
func (l *Lifecycle) End(ctx context.Context, id, reason string) error {
	now := time.Now()
	switch err := l.store.EndStream(ctx, id, now); {
	case errors.Is(err, store.ErrUnavailable):
		l.owe(id, func(o *owed) {
			if o.endedAt.IsZero() {
				o.endedAt, o.reason = now, reason
			}
		})
	case err != nil:
		return fmt.Errorf("end stream %s: %w", id, err)
	default:
		l.emit(ctx, notify.StreamEnded, id, reason, now)
	}
	l.rooms.EndRoom(id, reason)
	if err := l.fanout.Publish(ctx, sessions.Event{Kind: sessions.EventStream, StreamID: id, Reason: sessions.ReasonStreamEnded}); err != nil {
		// The media here has stopped already; what is lost is the word to other nodes,
		// which then hold viewers of a stream with no source until their sessions expire.
		l.log.Warn("publish stream end", "stream", id, "err", err)
	}
	return nil
}

// owe keeps a change the database was away for.
func (l *Lifecycle) owe(id string, change func(*owed)) {
	l.mu.Lock()
	o := l.owed[id]
	if o == nil {
		o = &owed{}
		l.owed[id] = o
	}
	change(o)
	l.mu.Unlock()
	l.log.Warn("the database is away: the stream's change is kept to be written when it is back", "stream", id)
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Owed reports how many streams have changes not yet written.
func (l *Lifecycle) Owed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.owed)
}

// Run writes the changes the database was away for, with their true times, retrying
// every retry until each is written, until ctx is done.
func (l *Lifecycle) Run(ctx context.Context, retry time.Duration) {
	t := time.NewTicker(retry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case <-t.C:
		}
		l.mu.Lock()
		ids := slices.Collect(maps.Keys(l.owed))
		l.mu.Unlock()
		for _, id := range ids {
			l.settle(ctx, id)
		}
	}
}

// settle writes what stream id is owed: going live before ending, each at its time.
func (l *Lifecycle) settle(ctx context.Context, id string) {
	l.mu.Lock()
	o := *l.owed[id]
	l.mu.Unlock()
	if !o.liveAt.IsZero() {
		err := l.store.MarkStreamLive(ctx, id, o.liveAt)
		if errors.Is(err, store.ErrUnavailable) {
			return
		}
		if err == nil {
			l.emit(ctx, notify.StreamLive, id, "", o.liveAt)
		}
	}
	if !o.endedAt.IsZero() {
		err := l.store.EndStream(ctx, id, o.endedAt)
		if errors.Is(err, store.ErrUnavailable) {
			l.mu.Lock()
			l.owed[id].liveAt = time.Time{} // that part is written
			l.mu.Unlock()
			return
		}
		if err == nil {
			l.emit(ctx, notify.StreamEnded, id, o.reason, o.endedAt)
		} else {
			l.log.Warn("end stream, after the database came back", "stream", id, "err", err)
		}
	}
	l.mu.Lock()
	if cur := l.owed[id]; cur != nil && cur.endedAt.Equal(o.endedAt) && (cur.liveAt.IsZero() || cur.liveAt.Equal(o.liveAt)) {
		delete(l.owed, id)
	}
	l.mu.Unlock()
	l.log.Info("the stream's change written now that the database is back", "stream", id, "live_at", o.liveAt, "ended_at", o.endedAt)
}
