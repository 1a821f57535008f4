// Package poll is how tests wait: for a condition, never for a clock. A condition says
// why it does not hold yet, so a test that gives up says what it was still waiting for.
package poll

import (
	"fmt"
	"testing"
	"time"
)

// first and most are the pauses between checks: short at first (most conditions hold
// within milliseconds on an idle machine), longer later (a busy one is not made busier).
const (
	first = 10 * time.Millisecond
	most  = 250 * time.Millisecond
)

// Until checks cond until it returns nil, and fails t with cond's last answer when
// within has passed first. what names the condition in that failure.
func Until(t testing.TB, within time.Duration, what string, cond func() error) {
	t.Helper()
	if err := Wait(within, cond); err != nil {
		t.Fatalf("%s: not within %v: %v", what, within, err)
	}
}

// Wait checks cond until it returns nil (Wait returns nil) or within has passed (Wait
// returns cond's last answer), for a test that goes on after a condition that did not
// come, or a goroutine that must not call t.Fatal.
func Wait(within time.Duration, cond func() error) error {
	deadline := time.Now().Add(within)
	pause := first
	for {
		err := cond()
		if err == nil {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return err
		}
		time.Sleep(min(pause, left))
		pause = min(2*pause, most)
	}
}

// Holds checks cond throughout d and fails t at the first moment it does not hold: for
// a test about time, that something does not happen for a while.
func Holds(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	start := time.Now()
	for {
		if err := cond(); err != nil {
			t.Fatalf("%s: broken after %v: %v", what, time.Since(start).Round(time.Millisecond), err)
		}
		left := d - time.Since(start)
		if left <= 0 {
			return
		}
		time.Sleep(min(most, left))
	}
}

// Want is a condition's answer: nil when ok, else why not, as format says.
func Want(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}
