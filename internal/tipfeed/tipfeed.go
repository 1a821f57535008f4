// Package tipfeed brings a stream's paid tips to the viewers and the creator watching it
// on this node. The truth is the tips table, written by whichever node applied the tip's
// payment webhook: one poller per stream with watchers here reads what is new and hands
// each tip to every watcher once. No message bus has to be up for a tip to show, and a
// node that restarts picks up where the table is.
package tipfeed

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// Source reads tips (store.Tips).
type Source interface {
	TipsSince(ctx context.Context, streamID string, since time.Time, limit int) ([]store.Tip, error)
}

// Feed is the node's tip pollers, one per stream being watched here.
type Feed struct {
	src  Source
	poll time.Duration
	log  *slog.Logger
	ctx  context.Context

	mu      sync.Mutex
	streams map[string]*stream
	wg      sync.WaitGroup
}

type stream struct {
	cancel context.CancelFunc
	subs   map[chan store.Tip]struct{}
}

// lookback is how far before the newest tip seen each poll reads again: two nodes'
// transactions may commit out of the order of their timestamps.
const lookback = 5 * time.Second

// New returns a feed polling every poll (250ms when zero) until ctx ends.
func New(ctx context.Context, src Source, poll time.Duration, log *slog.Logger) *Feed {
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Feed{src: src, poll: poll, log: log, ctx: ctx, streams: map[string]*stream{}}
}

// Subscribe returns the stream's tips from now on, and the function that ends the
// subscription. A watcher that does not keep up loses tips rather than slowing others.
func (f *Feed) Subscribe(streamID string) (<-chan store.Tip, func()) {
	ch := make(chan store.Tip, 32)
	f.mu.Lock()
	s := f.streams[streamID]
	if s == nil {
		ctx, cancel := context.WithCancel(f.ctx)
		s = &stream{cancel: cancel, subs: map[chan store.Tip]struct{}{}}
		f.streams[streamID] = s
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.run(ctx, streamID, s)
		}()
	}
	s.subs[ch] = struct{}{}
	f.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			delete(s.subs, ch)
			if len(s.subs) == 0 && f.streams[streamID] == s {
				s.cancel()
				delete(f.streams, streamID)
			}
		})
	}
}

// Wait returns when every poller has stopped (after the feed's context ends).
func (f *Feed) Wait() { f.wg.Wait() }

func (f *Feed) run(ctx context.Context, streamID string, s *stream) {
	// Tips from before the first watcher came are the page's to load (GET .../tips).
	start := time.Now().Add(-time.Second)
	cursor := start
	seen := map[string]time.Time{}
	tick := time.NewTicker(f.poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			// select picks at random when both are ready: a tick pending when the last
			// watcher left is not a reason to read the table once more.
			if ctx.Err() != nil {
				return
			}
		}
		tips, err := f.src.TipsSince(ctx, streamID, cursor.Add(-lookback), 200)
		if err != nil {
			if ctx.Err() == nil {
				f.log.Warn("read tips", "stream", streamID, "err", err)
			}
			continue
		}
		for _, t := range tips {
			if _, dup := seen[t.ID]; dup || t.CreatedAt.Before(start) {
				continue
			}
			seen[t.ID] = t.CreatedAt
			if t.CreatedAt.After(cursor) {
				cursor = t.CreatedAt
			}
			f.mu.Lock()
			for ch := range s.subs {
				select {
				case ch <- t:
				default:
				}
			}
			f.mu.Unlock()
		}
		for id, at := range seen {
			if at.Before(cursor.Add(-2 * lookback)) {
				delete(seen, id)
			}
		}
	}
}
