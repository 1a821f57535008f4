// Package storetest is the conformance suite every store.Store implementation must pass.
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// Run exercises a fresh, empty store made by open for each subtest.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CreatorRoundTrip", func(t *testing.T) { testCreatorRoundTrip(t, open(t)) })
	t.Run("StreamLifecycle", func(t *testing.T) { testStreamLifecycle(t, open(t)) })
	t.Run("ListStreamsFilters", func(t *testing.T) { testListStreams(t, open(t)) })
	t.Run("StreamNeedsCreator", func(t *testing.T) { testStreamNeedsCreator(t, open(t)) })
	runBilling(t, open)
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func mustCreator(t *testing.T, s store.Store) store.Creator {
	t.Helper()
	c := store.Creator{ID: store.NewID("cr"), Name: "Amina", Country: "MA", CreatedAt: now()}
	if err := s.CreateCreator(context.Background(), c); err != nil {
		t.Fatalf("CreateCreator: %v", err)
	}
	return c
}

func testCreatorRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := mustCreator(t, s)
	got, err := s.Creator(ctx, c.ID)
	if err != nil {
		t.Fatalf("Creator: %v", err)
	}
	if got.ID != c.ID || got.Name != c.Name || got.Country != "MA" || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("Creator = %+v, want %+v", got, c)
	}
	if err := s.CreateCreator(ctx, c); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate CreateCreator error = %v, want ErrConflict", err)
	}
	if _, err := s.Creator(ctx, "cr_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing Creator error = %v, want ErrNotFound", err)
	}
}

func testStreamLifecycle(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := mustCreator(t, s)
	st := store.Stream{
		ID: store.NewID("str"), CreatorID: c.ID, Title: "Sunday show", AccessMode: store.AccessFree,
		KeyHash: []byte{1, 2, 3, 0, 255}, State: store.StateScheduled, CreatedAt: now(), MaxSessions: 1,
	}
	if err := s.CreateStream(ctx, st); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	got, err := s.Stream(ctx, st.ID)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if got.Title != st.Title || got.State != store.StateScheduled || string(got.KeyHash) != string(st.KeyHash) ||
		got.AccessMode != store.AccessFree || !got.StartedAt.IsZero() || !got.EndedAt.IsZero() ||
		got.MaxSessions != 1 || got.SessionPolicy != store.PolicyReject || got.PreviewSeconds != 0 {
		t.Fatalf("Stream = %+v, want %+v", got, st)
	}

	t1 := now().Add(time.Second)
	if err := s.MarkStreamLive(ctx, st.ID, t1); err != nil {
		t.Fatalf("MarkStreamLive: %v", err)
	}
	// A second publish keeps the first start time.
	if err := s.MarkStreamLive(ctx, st.ID, t1.Add(time.Minute)); err != nil {
		t.Fatalf("MarkStreamLive again: %v", err)
	}
	got, _ = s.Stream(ctx, st.ID)
	if got.State != store.StateLive || !got.StartedAt.Equal(t1) {
		t.Fatalf("after live: state %s started %v, want live %v", got.State, got.StartedAt, t1)
	}

	t2 := t1.Add(time.Hour)
	if err := s.EndStream(ctx, st.ID, t2); err != nil {
		t.Fatalf("EndStream: %v", err)
	}
	if err := s.EndStream(ctx, st.ID, t2.Add(time.Hour)); err != nil {
		t.Fatalf("EndStream twice: %v", err)
	}
	got, _ = s.Stream(ctx, st.ID)
	if got.State != store.StateEnded || !got.EndedAt.Equal(t2) {
		t.Fatalf("after end: state %s ended %v, want ended %v", got.State, got.EndedAt, t2)
	}
	if err := s.MarkStreamLive(ctx, st.ID, t2); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("MarkStreamLive on ended stream: %v, want ErrConflict", err)
	}
	if err := s.MarkStreamLive(ctx, "str_missing", t2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("MarkStreamLive on missing stream: %v, want ErrNotFound", err)
	}
	if err := s.UpdateStreamAccess(ctx, st.ID, 120, 2, store.PolicyReplace); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Stream(ctx, st.ID); got.PreviewSeconds != 120 || got.MaxSessions != 2 || got.SessionPolicy != store.PolicyReplace {
		t.Fatalf("access settings = %d %d %s", got.PreviewSeconds, got.MaxSessions, got.SessionPolicy)
	}
	if err := s.UpdateStreamAccess(ctx, "str_missing", 0, 1, store.PolicyReject); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateStreamAccess on missing stream: %v", err)
	}
	if err := s.EndStream(ctx, "str_missing", t2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("EndStream on missing stream: %v, want ErrNotFound", err)
	}
	if err := s.CreateStream(ctx, st); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate CreateStream: %v, want ErrConflict", err)
	}
}

func testListStreams(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := mustCreator(t, s), mustCreator(t, s)
	base := now()
	var ids []string
	for i, cr := range []string{a.ID, a.ID, b.ID} {
		st := store.Stream{ID: store.NewID("str"), CreatorID: cr, Title: "s", AccessMode: store.AccessFree,
			KeyHash: []byte{byte(i)}, State: store.StateScheduled, CreatedAt: base.Add(time.Duration(i) * time.Second)}
		if err := s.CreateStream(ctx, st); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, st.ID)
	}
	if err := s.MarkStreamLive(ctx, ids[1], base); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListStreams(ctx, store.StreamFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].ID != ids[2] || all[2].ID != ids[0] {
		t.Fatalf("ListStreams = %d streams, want 3 newest first", len(all))
	}
	live, _ := s.ListStreams(ctx, store.StreamFilter{State: store.StateLive})
	if len(live) != 1 || live[0].ID != ids[1] {
		t.Fatalf("live streams = %v, want only %s", live, ids[1])
	}
	ofA, _ := s.ListStreams(ctx, store.StreamFilter{CreatorID: a.ID})
	if len(ofA) != 2 {
		t.Fatalf("streams of creator a = %d, want 2", len(ofA))
	}
	one, _ := s.ListStreams(ctx, store.StreamFilter{Limit: 1})
	if len(one) != 1 {
		t.Fatalf("limit 1 gave %d", len(one))
	}
	none, err := s.ListStreams(ctx, store.StreamFilter{State: store.StateEnded})
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("ended streams = %v, %v; want empty non-nil slice", none, err)
	}
}

func testStreamNeedsCreator(t *testing.T, s store.Store) {
	err := s.CreateStream(context.Background(), store.Stream{ID: store.NewID("str"), CreatorID: "cr_nobody",
		Title: "x", AccessMode: store.AccessFree, KeyHash: []byte{1}, State: store.StateScheduled, CreatedAt: now()})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CreateStream for unknown creator: %v, want ErrNotFound", err)
	}
}
