package streams

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/store"
)

type fakeStore struct {
	liveErr, endErr error
	ended           []string
}

func (f *fakeStore) MarkStreamLive(context.Context, string, time.Time) error { return f.liveErr }
func (f *fakeStore) EndStream(_ context.Context, id string, _ time.Time) error {
	if f.endErr != nil {
		return f.endErr
	}
	f.ended = append(f.ended, id)
	return nil
}

type fakeRooms struct{ ended map[string]string }

func (f *fakeRooms) EndRoom(id, reason string) { f.ended[id] = reason }

type fakeFanout struct{ events []sessions.Event }

func (f *fakeFanout) Publish(_ context.Context, e sessions.Event) error {
	f.events = append(f.events, e)
	return nil
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	st, rooms, fan := &fakeStore{}, &fakeRooms{ended: map[string]string{}}, &fakeFanout{}
	l := New(st, rooms, fan, nil, nil)

	l.WentLive(ctx, "str_a")
	if len(rooms.ended) != 0 {
		t.Fatalf("going live ended rooms: %v", rooms.ended)
	}
	// Ended by the creator between the WHIP offer and the connection: stays ended.
	st.liveErr = store.ErrConflict
	l.WentLive(ctx, "str_b")
	if rooms.ended["str_b"] == "" {
		t.Fatal("a stream ended meanwhile kept its room")
	}

	if err := l.End(ctx, "str_c", "stream ended by the creator"); err != nil {
		t.Fatal(err)
	}
	if len(st.ended) != 1 || rooms.ended["str_c"] != "stream ended by the creator" ||
		len(fan.events) != 1 || fan.events[0].Kind != sessions.EventStream || fan.events[0].StreamID != "str_c" {
		t.Fatalf("End: store %v rooms %v events %+v", st.ended, rooms.ended, fan.events)
	}

	// Nothing is torn down for a stream the store cannot end (unknown id).
	st.endErr = store.ErrNotFound
	if err := l.End(ctx, "str_missing", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("End of a missing stream: %v", err)
	}
	if _, ok := rooms.ended["str_missing"]; ok || len(fan.events) != 1 {
		t.Fatal("a stream the store could not end was torn down")
	}
}

// timedStore is a database that can be away, and keeps the times it was given.
type timedStore struct {
	mu      sync.Mutex
	away    bool
	liveAt  map[string]time.Time
	endedAt map[string]time.Time
}

func (s *timedStore) MarkStreamLive(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.away {
		return fmt.Errorf("mark live: %w", store.ErrUnavailable)
	}
	s.liveAt[id] = at
	return nil
}

func (s *timedStore) EndStream(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.away {
		return fmt.Errorf("end: %w", store.ErrUnavailable)
	}
	if _, ok := s.endedAt[id]; !ok {
		s.endedAt[id] = at
	}
	return nil
}

func (s *timedStore) setAway(v bool) { s.mu.Lock(); s.away = v; s.mu.Unlock() }

func (s *timedStore) times(id string) (live, ended time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.liveAt[id], s.endedAt[id]
}

// While the database is away a stream still goes live and ends (its media ends on every
// node at once); its durable state takes both, with their true times, once it is back.
func TestChangesWhileTheDatabaseIsAway(t *testing.T) {
	st := &timedStore{away: true, liveAt: map[string]time.Time{}, endedAt: map[string]time.Time{}}
	rooms, fan := &fakeRooms{ended: map[string]string{}}, &fakeFanout{}
	l := New(st, rooms, fan, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx, 20*time.Millisecond) }()
	defer func() { cancel(); <-done }()

	before := time.Now()
	l.WentLive(ctx, "str_a")
	if err := l.End(ctx, "str_a", "publisher left"); err != nil {
		t.Fatalf("End with the database away: %v", err)
	}
	after := time.Now()
	if rooms.ended["str_a"] != "publisher left" || len(fan.events) != 1 {
		t.Fatalf("the media did not end at once: rooms %v events %+v", rooms.ended, fan.events)
	}
	time.Sleep(100 * time.Millisecond) // retries while away write nothing
	if l.Owed() != 1 {
		t.Fatalf("owed %d streams, want 1", l.Owed())
	}
	st.setAway(false)
	poll.Until(t, 2*time.Second, "the stream's change written", func() error {
		return poll.Want(l.Owed() == 0, "%d streams owed", l.Owed())
	})
	live, ended := st.times("str_a")
	if live.Before(before) || live.After(after) || ended.Before(live) || ended.After(after) {
		t.Fatalf("live at %v, ended at %v: want both between %v and %v, when they happened", live, ended, before, after)
	}
}
