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
	t.Run("Recordings", func(t *testing.T) { testRecordings(t, open(t)) })
	runBilling(t, open)
	runMoney(t, open)
}

// A stream's recording settings and parts: a checkpoint updates a part in progress only,
// and the node's parts in progress are what a restart finds.
func testRecordings(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := mustCreator(t, s)
	st := store.Stream{ID: store.NewID("str"), CreatorID: c.ID, Title: "Gnawa night", AccessMode: store.AccessTicket,
		KeyHash: []byte{1}, State: store.StateScheduled, CreatedAt: now(), Record: true, ReplayWindow: 48 * time.Hour}
	if err := s.CreateStream(ctx, st); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Stream(ctx, st.ID); !got.Record || got.ReplayWindow != 48*time.Hour || got.Retention != 0 {
		t.Fatalf("recording settings after create: %+v", got)
	}
	if err := s.UpdateStreamRecording(ctx, st.ID, false, time.Hour, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Stream(ctx, st.ID); got.Record || got.ReplayWindow != time.Hour || got.Retention != 24*time.Hour {
		t.Fatalf("recording settings after update: %+v", got)
	}
	a := store.Recording{ID: store.NewID("rec"), StreamID: st.ID, CreatorID: c.ID, Key: st.ID + "/a.webm", Node: "n1",
		State: store.RecordingInProgress, StartedAt: now()}
	b := a
	b.ID, b.Key, b.Node, b.StartedAt = store.NewID("rec"), st.ID+"/b.webm", "n2", now().Add(time.Second)
	for _, r := range []store.Recording{a, b} {
		if err := s.CreateRecording(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CheckpointRecording(ctx, a.ID, 1000, 4000); err != nil {
		t.Fatal(err)
	}
	a.State, a.EndedAt, a.Bytes, a.DurationMS = store.RecordingComplete, now(), 2000, 8000
	if err := s.FinishRecording(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckpointRecording(ctx, a.ID, 1, 1); err != nil { // too late: a is complete
		t.Fatal(err)
	}
	got, err := s.Recordings(ctx, st.ID)
	if err != nil || len(got) != 2 || got[0] != a || got[1].ID != b.ID || got[1].State != store.RecordingInProgress {
		t.Fatalf("Recordings = %+v %v, want %+v then %s", got, err, a, b.ID)
	}
	if inProgress, _ := s.RecordingsInProgress(ctx, "n2"); len(inProgress) != 1 || inProgress[0].ID != b.ID {
		t.Fatalf("RecordingsInProgress(n2) = %+v", inProgress)
	}
	if inProgress, _ := s.RecordingsInProgress(ctx, "n1"); len(inProgress) != 0 {
		t.Fatalf("RecordingsInProgress(n1) = %+v, want none", inProgress)
	}
	if err := s.DeleteRecording(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRecording(ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a deleted recording: %v", err)
	}
	// Retention: the stream keeps its recording 24 hours after its end.
	if err := s.EndStream(ctx, st.ID, now().Add(-23*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if expired, err := s.ExpiredRecordings(ctx, 90*24*time.Hour, now()); err != nil || len(expired) != 0 {
		t.Fatalf("expired 23 hours after the end: %+v %v, want none", expired, err)
	}
	if expired, err := s.ExpiredRecordings(ctx, 90*24*time.Hour, now().Add(2*time.Hour)); err != nil || len(expired) != 1 || expired[0].ID != a.ID {
		t.Fatalf("expired 25 hours after the end: %+v %v, want %s", expired, err, a.ID)
	}
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
