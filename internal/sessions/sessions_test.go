package sessions_test

import (
	"context"
	"testing"

	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/sessions/sessionstest"
	"github.com/livegate/livegate/internal/testenv"
)

func TestMemory(t *testing.T) {
	sessionstest.Run(t, func(t *testing.T) sessions.Store { return sessions.NewMemory() })
}

func TestRedis(t *testing.T) {
	sessionstest.Run(t, func(t *testing.T) sessions.Store {
		r, err := sessions.NewRedis(testenv.RedisURL(t), testenv.UniquePrefix(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if err := r.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
		return r
	})
}
