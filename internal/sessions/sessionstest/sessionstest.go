// Package sessionstest is the conformance suite every sessions.Store must pass.
package sessionstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/sessions"
)

// Run runs the suite; open returns a fresh, empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) sessions.Store) {
	t.Run("OpenGetEnd", func(t *testing.T) { testOpenGetEnd(t, open(t)) })
	t.Run("RejectOverLimit", func(t *testing.T) { testReject(t, open(t)) })
	t.Run("ReplaceOldest", func(t *testing.T) { testReplace(t, open(t)) })
	t.Run("LimitIsAtomic", func(t *testing.T) { testAtomic(t, open(t)) })
	t.Run("TTLAndRefresh", func(t *testing.T) { testTTL(t, open(t)) })
	t.Run("StatsPreviewCollect", func(t *testing.T) { testStats(t, open(t)) })
	t.Run("PendingNotCounted", func(t *testing.T) { testPending(t, open(t)) })
	t.Run("Events", func(t *testing.T) { testEvents(t, open(t)) })
	t.Run("RevokedRecorded", func(t *testing.T) { testRevoked(t, open(t)) })
	t.Run("EpochStable", func(t *testing.T) { testEpoch(t, open(t)) })
}

var seq int64
var seqMu sync.Mutex

func sess(viewer, stream, ent string) sessions.Session {
	seqMu.Lock()
	seq++
	n := seq
	seqMu.Unlock()
	return sessions.Session{ID: fmt.Sprintf("s%d-%d", time.Now().UnixNano(), n), NodeID: "node-a", StreamID: stream,
		ViewerID: viewer, Country: "MA", Entitlement: ent, StartedAt: time.Now().Add(time.Duration(n) * time.Millisecond),
		Connected: true}
}

// An offer that never connects holds its slot of the cap but is no viewer: it does not
// count among current or unique viewers until Connect, and never if it ends first.
func testPending(t *testing.T, st sessions.Store) {
	ctx := context.Background()
	p := sess("v", "str", "ent")
	p.Connected = false
	if _, err := st.Open(ctx, p, sessions.Limit{Max: 1}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.Stats(ctx, "str"); s.Current != 0 || s.Unique != 0 {
		t.Fatalf("stats with one pending session: %+v, want 0 current, 0 unique", s)
	}
	if _, err := st.Open(ctx, sess("v", "str", "ent"), sessions.Limit{Max: 1}, time.Minute); !errors.Is(err, sessions.ErrLimit) {
		t.Fatalf("a pending session must hold its slot of the cap: %v", err)
	}
	if list, _ := st.List(ctx, "str"); len(list) != 1 || list[0].Connected {
		t.Fatalf("List = %+v, want the pending session, not connected", list)
	}
	if err := st.Connect(ctx, p, time.Minute); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.Stats(ctx, "str"); s.Current != 1 || s.Unique != 1 {
		t.Fatalf("stats after connect: %+v, want 1 current, 1 unique", s)
	}
	if got, _ := st.Get(ctx, p.ID); !got.Connected {
		t.Fatalf("Get after Connect = %+v, want connected", got)
	}
	gone := sess("w", "str", "ent2")
	gone.Connected = false
	if _, err := st.Open(ctx, gone, sessions.Limit{}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := st.End(ctx, gone.ID, sessions.ReasonJoinFailed); err != nil {
		t.Fatal(err)
	}
	if err := st.Connect(ctx, gone, time.Minute); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Connect of an ended session: %v, want ErrNotFound", err)
	}
	if s, _ := st.Stats(ctx, "str"); s.Current != 1 || s.Unique != 1 {
		t.Fatalf("stats after a session ended before connecting: %+v, want 1 current, 1 unique", s)
	}
	if err := st.End(ctx, p.ID, sessions.ReasonViewerLeft); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.Stats(ctx, "str"); s.Current != 0 || s.Unique != 1 {
		t.Fatalf("stats after the viewer left: %+v, want 0 current, 1 unique", s)
	}
}

func testOpenGetEnd(t *testing.T, st sessions.Store) {
	ctx := context.Background()
	s := sess("v1", "str1", "ent1")
	if _, err := st.Open(ctx, s, sessions.Limit{Max: 1}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Open(ctx, s, sessions.Limit{}, time.Minute); !errors.Is(err, sessions.ErrExists) {
		t.Fatalf("reopening the same id: %v, want ErrExists", err)
	}
	got, err := st.Get(ctx, s.ID)
	if err != nil || got.ViewerID != "v1" || got.Country != "MA" || got.NodeID != "node-a" || got.StartedAt.UnixMilli() != s.StartedAt.UnixMilli() {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	list, _ := st.List(ctx, "str1")
	all, _ := st.List(ctx, "")
	if len(list) != 1 || len(all) != 1 {
		t.Fatalf("List = %d, all = %d", len(list), len(all))
	}
	if err := st.End(ctx, s.ID, "viewer left"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, s.ID); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Get after End: %v", err)
	}
	if reason, err := st.Ended(ctx, s.ID); err != nil || reason != "viewer left" {
		t.Fatalf("Ended = %q, %v", reason, err)
	}
	// The slot is free again.
	if _, err := st.Open(ctx, sess("v1", "str1", "ent1"), sessions.Limit{Max: 1}, time.Minute); err != nil {
		t.Fatalf("open after end: %v", err)
	}
	// An ended id stays spent: a playback token opens one session, ever.
	if _, err := st.Open(ctx, s, sessions.Limit{}, time.Minute); !errors.Is(err, sessions.ErrExists) {
		t.Fatalf("reopening an ended id: %v, want ErrExists", err)
	}
}

func testReject(t *testing.T, st sessions.Store) {
	ctx := context.Background()
	lim := sessions.Limit{Max: 2}
	for i := 0; i < 2; i++ {
		if _, err := st.Open(ctx, sess("v", "str", "ent"), lim, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Open(ctx, sess("v", "str", "ent"), lim, time.Minute); !errors.Is(err, sessions.ErrLimit) {
		t.Fatalf("third session: %v, want ErrLimit", err)
	}
	// Other viewers, and the same viewer on another entitlement, are not affected.
	if _, err := st.Open(ctx, sess("w", "str", "ent2"), lim, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Open(ctx, sess("v", "str", "ent3"), lim, time.Minute); err != nil {
		t.Fatal(err)
	}
}

func testReplace(t *testing.T, st sessions.Store) {
	ctx := context.Background()
	first := sess("v", "str", "ent")
	if _, err := st.Open(ctx, first, sessions.Limit{Max: 1, Replace: true}, time.Minute); err != nil {
		t.Fatal(err)
	}
	second := sess("v", "str", "ent")
	kicked, err := st.Open(ctx, second, sessions.Limit{Max: 1, Replace: true}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(kicked) != 1 || kicked[0].ID != first.ID || kicked[0].NodeID != "node-a" {
		t.Fatalf("kicked = %+v, want the first session", kicked)
	}
	if _, err := st.Get(ctx, first.ID); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("replaced session still there: %v", err)
	}
	if reason, _ := st.Ended(ctx, first.ID); reason != sessions.ReasonReplaced {
		t.Fatalf("replaced session ended with %q, want %q", reason, sessions.ReasonReplaced)
	}
	if s, _ := st.Stats(ctx, "str"); s.Current != 1 {
		t.Fatalf("current viewers = %d after replace, want 1", s.Current)
	}
}

// Many simultaneous joins of one viewer on one entitlement: exactly Max get in.
func testAtomic(t *testing.T, st sessions.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.Open(ctx, sess("racer", "str", "ent"), sessions.Limit{Max: 1}, time.Minute); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errors.Is(err, sessions.ErrLimit) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d of 20 concurrent joins got in, want 1", ok)
	}
}

func testTTL(t *testing.T, st sessions.Store) {
	ctx := context.Background()
	a, b := sess("v", "str", "e1"), sess("w", "str", "e2")
	for _, s := range []sessions.Session{a, b} {
		if _, err := st.Open(ctx, s, sessions.Limit{Max: 1}, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	// a's node keeps it alive; b's node crashed.
	for i := 0; i < 4; i++ {
		time.Sleep(150 * time.Millisecond)
		if err := st.Refresh(ctx, []sessions.Session{a}, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Get(ctx, a.ID); err != nil {
		t.Fatalf("refreshed session expired: %v", err)
	}
	if _, err := st.Get(ctx, b.ID); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("crashed node's session still there: %v", err)
	}
	// Expired without an End (its node died), its id is spent all the same.
	if _, err := st.Open(ctx, b, sessions.Limit{}, time.Minute); !errors.Is(err, sessions.ErrExists) {
		t.Fatalf("reopening an expired id: %v, want ErrExists", err)
	}
	if s, _ := st.Stats(ctx, "str"); s.Current != 1 || s.Unique != 2 {
		t.Fatalf("stats = %+v, want 1 current, 2 unique", s)
	}
	// The expired session's slot is free.
	if _, err := st.Open(ctx, sess("w", "str", "e2"), sessions.Limit{Max: 1}, time.Minute); err != nil {
		t.Fatalf("slot of an expired session: %v", err)
	}
	// Refresh re-creates a session the store lost (Redis restarted empty).
	lost := sess("z", "str2", "e9")
	if err := st.Refresh(ctx, []sessions.Session{lost}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, lost.ID); err != nil {
		t.Fatalf("Refresh did not re-register: %v", err)
	}
}

func testStats(t *testing.T, st sessions.Store) {
	ctx := context.Background()
	for _, v := range []string{"a", "b", "a"} {
		if _, err := st.Open(ctx, sess(v, "s", "free"), sessions.Limit{}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if s, _ := st.Stats(ctx, "s"); s.Current != 3 || s.Unique != 2 {
		t.Fatalf("stats %+v, want 3 current, 2 unique", s)
	}
	if total, _ := st.AddPreview(ctx, sessions.Watch{Viewer: "a", Stream: "s"}, 1500*time.Millisecond); total != 1500*time.Millisecond {
		t.Fatalf("preview total %v", total)
	}
	if _, err := st.AddPreview(ctx, sessions.Watch{Viewer: "a", Stream: "s"}, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if used, _ := st.PreviewUsed(ctx, sessions.Watch{Viewer: "a", Stream: "s"}); used != 2*time.Second {
		t.Fatalf("preview used %v, want 2s", used)
	}
	if used, _ := st.PreviewUsed(ctx, sessions.Watch{Viewer: "b", Stream: "s"}); used != 0 {
		t.Fatalf("another viewer's preview used %v", used)
	}
	if added, _ := st.Collect(ctx, sessions.Watch{Viewer: "a", Stream: "s"}); !added {
		t.Fatal("first collect not added")
	}
	if added, _ := st.Collect(ctx, sessions.Watch{Viewer: "a", Stream: "s"}); added {
		t.Fatal("second collect by the same viewer added")
	}
	if _, err := st.Collect(ctx, sessions.Watch{Viewer: "b", Stream: "s"}); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.Stats(ctx, "s"); s.Collects != 2 {
		t.Fatalf("collects %d, want 2", s.Collects)
	}
}

func testEvents(t *testing.T, st sessions.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := st.Events(ctx), st.Events(ctx) // two nodes
	want := sessions.Event{Kind: sessions.EventEntitlement, EntitlementID: "ent_1", Reason: "refunded"}
	start := time.Now()
	if err := st.Publish(ctx, want); err != nil {
		t.Fatal(err)
	}
	for i, ch := range []<-chan sessions.Event{a, b} {
		select {
		case got := <-ch:
			if got != want {
				t.Fatalf("subscriber %d got %+v", i, got)
			}
		case <-time.After(time.Second):
			t.Fatalf("subscriber %d got nothing within 1s", i)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("fan-out took %v", d)
	}
	if !want.Matches(sessions.Session{Entitlement: "ent_1"}) || want.Matches(sessions.Session{Entitlement: "ent_2"}) {
		t.Fatal("Matches")
	}
	cancel()
	select {
	case _, ok := <-a:
		if ok {
			t.Fatal("event after cancel")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("events channel not closed after cancel")
	}
}

// An event is recorded as well as sent, so a node that missed it finds it.
func testRevoked(t *testing.T, st sessions.Store) {
	ctx := context.Background()
	a, b, c := sess("v1", "str1", "ent_a"), sess("v2", "str1", "ent_b"), sess("v3", "str2", "ent_c")
	if got, err := st.Revoked(ctx, []sessions.Session{a, b, c}); err != nil || len(got) != 0 {
		t.Fatalf("nothing revoked yet: %v %v", got, err)
	}
	if err := st.Publish(ctx, sessions.Event{Kind: sessions.EventEntitlement, EntitlementID: "ent_a", Reason: "refunded"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Publish(ctx, sessions.Event{Kind: sessions.EventStream, StreamID: "str2", Reason: "stream ended"}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Revoked(ctx, []sessions.Session{a, b, c})
	if err != nil || len(got) != 2 {
		t.Fatalf("Revoked = %+v, %v; want the refund of a and the end of str2", got, err)
	}
	reasons := map[sessions.Reason]bool{}
	for _, e := range got {
		reasons[e.Reason] = true
	}
	if !reasons["refunded"] || !reasons["stream ended"] {
		t.Fatalf("Revoked = %+v", got)
	}
	if err := st.Publish(ctx, sessions.Event{Kind: sessions.EventSession, SessionID: b.ID, Reason: "kicked"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Revoked(ctx, []sessions.Session{b}); len(got) != 1 || got[0].Reason != "kicked" {
		t.Fatalf("kick not recorded: %+v", got)
	}
}

// The epoch is set once and stays while the store keeps its memory; it is no later than
// now, so a token issued after the store began is not taken for one issued before.
func testEpoch(t *testing.T, st sessions.Store) {
	ctx := context.Background()
	first, err := st.Epoch(ctx)
	if err != nil || first.IsZero() || first.After(time.Now()) {
		t.Fatalf("epoch %v %v", first, err)
	}
	time.Sleep(10 * time.Millisecond)
	again, err := st.Epoch(ctx)
	if err != nil || !again.Equal(first) {
		t.Fatalf("epoch moved without a loss: %v then %v (%v)", first, again, err)
	}
	if sessions.IssuedBeforeEpoch(time.Now().Truncate(time.Second), first) {
		t.Error("a token issued this second counts as issued before the epoch")
	}
	if !sessions.PreviewsForgotten(first.Add(-time.Minute), first) || sessions.PreviewsForgotten(time.Time{}, first) {
		t.Error("previews of a stream live before the epoch are remembered, or those of one never live forgotten")
	}
}
