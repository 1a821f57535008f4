package streams

import (
	"context"
	"errors"
	"testing"
	"time"

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

	// Nothing is torn down for a stream the store cannot end (unknown id, database down).
	st.endErr = store.ErrNotFound
	if err := l.End(ctx, "str_missing", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("End of a missing stream: %v", err)
	}
	if _, ok := rooms.ended["str_missing"]; ok || len(fan.events) != 1 {
		t.Fatal("a stream the store could not end was torn down")
	}
}
