package poll

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf keeps the failure and stops only the goroutine
// of the call under test, as t.Fatalf would.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = strings.TrimSpace(fmt.Sprintf(format, args...))
	runtime.Goexit()
}

// run calls f with a recorder, in a goroutine of its own, and returns the failure.
func run(t *testing.T, f func(tb testing.TB)) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return r.failed
}

func TestUntilReturnsWhenTheConditionHolds(t *testing.T) {
	calls := 0
	failed := run(t, func(tb testing.TB) {
		Until(tb, 5*time.Second, "third call", func() error {
			calls++
			return Want(calls >= 3, "call %d", calls)
		})
	})
	if failed != "" || calls != 3 {
		t.Fatalf("failed %q after %d calls; want success on the third", failed, calls)
	}
}

func TestUntilSaysWhyItGaveUp(t *testing.T) {
	start := time.Now()
	n := 0
	failed := run(t, func(tb testing.TB) {
		Until(tb, 100*time.Millisecond, "viewers", func() error {
			n++
			return Want(false, "%d viewers, want 2", n)
		})
	})
	if took := time.Since(start); took < 100*time.Millisecond || took > 2*time.Second {
		t.Errorf("gave up after %v; want about 100ms", took)
	}
	want := "viewers: not within 100ms: " + strconv.Itoa(n) + " viewers, want 2"
	if failed != want {
		t.Errorf("failure %q, want %q (the last answer)", failed, want)
	}
}

func TestWaitReturnsTheLastAnswer(t *testing.T) {
	last := errors.New("still 0")
	if err := Wait(30*time.Millisecond, func() error { return last }); err != last {
		t.Fatalf("Wait = %v, want the condition's last answer", err)
	}
	if err := Wait(time.Second, func() error { return nil }); err != nil {
		t.Fatalf("Wait = %v for a condition that holds", err)
	}
}

func TestHoldsFailsAtTheFirstBreak(t *testing.T) {
	start := time.Now()
	failed := run(t, func(tb testing.TB) {
		Holds(tb, 10*time.Second, "quiet", func() error {
			return Want(time.Since(start) < 50*time.Millisecond, "a packet came")
		})
	})
	if !strings.HasPrefix(failed, "quiet: broken after") || !strings.HasSuffix(failed, "a packet came") {
		t.Fatalf("failure %q", failed)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Holds ran %v after the condition broke", took)
	}
	if failed := run(t, func(tb testing.TB) {
		Holds(tb, 50*time.Millisecond, "quiet", func() error { return nil })
	}); failed != "" {
		t.Fatalf("a condition that held failed: %q", failed)
	}
}
