package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestAnswer(t *testing.T) {
	busy := &Error{Status: http.StatusServiceUnavailable, Type: "draining", Title: "Node is shutting down", Msg: "node is shutting down",
		Hint: "retry on another node", RetryAfter: 1500 * time.Millisecond}
	auth := &Error{Status: http.StatusUnauthorized, Type: "playback-token-invalid", Title: "Playback token required",
		Msg: "invalid playback token", Challenge: `Bearer realm="x"`}
	for _, c := range []struct {
		err                       error
		answered                  bool
		status                    int
		typ, detail, retry, realm string
	}{
		{fmt.Errorf("join: %w", busy), true, 503, "/problems/draining", "retry on another node", "2", ""},
		{fmt.Errorf("%w: expired", auth), true, 401, "/problems/playback-token-invalid", "invalid playback token: expired", "", `Bearer realm="x"`},
		{errors.New("disk on fire"), false, 0, "", "", "", ""},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/whep/s", nil)
		if got := Answer(w, r, c.err); got != c.answered {
			t.Fatalf("%v: answered %v", c.err, got)
		}
		if !c.answered {
			if w.Body.Len() != 0 {
				t.Fatalf("%v: wrote %q without answering", c.err, w.Body.String())
			}
			continue
		}
		var d Details
		if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		if w.Code != c.status || d.Status != c.status || d.Type != c.typ || d.Detail != c.detail || d.Instance != "/whep/s" ||
			w.Header().Get("Retry-After") != c.retry || w.Header().Get("WWW-Authenticate") != c.realm ||
			w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%v: %d %+v %v", c.err, w.Code, d, w.Header())
		}
	}
}
