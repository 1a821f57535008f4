package tipfeed

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// table is a tips table whose rows may commit out of the order of their timestamps.
type table struct {
	mu    sync.Mutex
	tips  []store.Tip
	polls int
}

func (tb *table) TipsSince(_ context.Context, stream string, since time.Time, limit int) ([]store.Tip, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.polls++
	var out []store.Tip
	for _, t := range tb.tips {
		if t.StreamID == stream && !t.CreatedAt.Before(since) {
			out = append(out, t)
		}
	}
	return out, nil
}

func (tb *table) add(t store.Tip) {
	tb.mu.Lock()
	tb.tips = append(tb.tips, t)
	tb.mu.Unlock()
}

func (tb *table) pollCount() int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.polls
}

func collect(ch <-chan store.Tip, d time.Duration) []string {
	var ids []string
	deadline := time.After(d)
	for {
		select {
		case t := <-ch:
			ids = append(ids, t.ID)
		case <-deadline:
			return ids
		}
	}
}

func TestEachWatcherGetsEachTipOnce(t *testing.T) {
	tb := &table{}
	ctx, cancel := context.WithCancel(context.Background())
	f := New(ctx, tb, 10*time.Millisecond, nil)
	old := store.Tip{ID: "tip_before", StreamID: "s", CreatedAt: time.Now().Add(-time.Minute)}
	tb.add(old) // before anyone watched: the page loads it, the feed does not resend it
	a, stopA := f.Subscribe("s")
	b, stopB := f.Subscribe("s")
	other, stopOther := f.Subscribe("other")
	time.Sleep(30 * time.Millisecond)
	now := time.Now()
	tb.add(store.Tip{ID: "tip_1", StreamID: "s", CreatedAt: now})
	time.Sleep(30 * time.Millisecond)
	// A transaction that began earlier commits later, with an earlier timestamp.
	tb.add(store.Tip{ID: "tip_0", StreamID: "s", CreatedAt: now.Add(-500 * time.Millisecond)})
	gotA, gotB, gotOther := collect(a, 200*time.Millisecond), collect(b, 50*time.Millisecond), collect(other, 10*time.Millisecond)
	for name, got := range map[string][]string{"a": gotA, "b": gotB} {
		if len(got) != 2 || got[0] != "tip_1" || got[1] != "tip_0" {
			t.Errorf("watcher %s got %v, want tip_1 then tip_0, once each", name, got)
		}
	}
	if len(gotOther) != 0 {
		t.Errorf("another stream's watcher got %v", gotOther)
	}
	stopA()
	stopB()
	stopOther()
	stopA() // twice is harmless
	// About time: a poll already under way when the last watcher left may still finish
	// (a busy machine can hold its goroutine that long); none may start after.
	time.Sleep(20 * time.Millisecond)
	polls := tb.pollCount()
	time.Sleep(50 * time.Millisecond)
	if tb.pollCount() != polls {
		t.Error("the poller went on after its last watcher left")
	}
	cancel()
	f.Wait()
}
