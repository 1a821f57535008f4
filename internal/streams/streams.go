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
}

// New returns the lifecycle of a node's streams; events may be nil.
func New(st Store, rooms Rooms, fanout Fanout, events Events, log *slog.Logger) *Lifecycle {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Lifecycle{store: st, rooms: rooms, fanout: fanout, events: events, log: log}
}

func (l *Lifecycle) emit(ctx context.Context, typ, id, reason string) {
	if l.events == nil {
		return
	}
	data := map[string]any{"stream_id": id, "at": time.Now().UTC()}
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
	err := l.store.MarkStreamLive(ctx, id, time.Now())
	if err == nil {
		l.emit(ctx, notify.StreamLive, id, "")
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
func (l *Lifecycle) End(ctx context.Context, id, reason string) error {
	if err := l.store.EndStream(ctx, id, time.Now()); err != nil {
		return fmt.Errorf("end stream %s: %w", id, err)
	}
	l.rooms.EndRoom(id, reason)
	l.emit(ctx, notify.StreamEnded, id, reason)
	if err := l.fanout.Publish(ctx, sessions.Event{Kind: sessions.EventStream, StreamID: id, Reason: sessions.ReasonStreamEnded}); err != nil {
		// The media here has stopped already; what is lost is the word to other nodes,
		// which then hold viewers of a stream with no source until their sessions expire.
		l.log.Warn("publish stream end", "stream", id, "err", err)
	}
	return nil
}
