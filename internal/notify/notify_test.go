package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlstore"
)

func TestSignAndVerify(t *testing.T) {
	body := []byte(`{"id":"evt_1"}`)
	at := time.Unix(1_800_000_000, 0)
	h := Sign("secret", at, body)
	for _, c := range []struct {
		name   string
		body   []byte
		header string
		secret string
		now    time.Time
		want   error
	}{
		{"valid", body, h, "secret", at.Add(time.Minute), nil},
		{"rolled secret: two v1", body, h + ",v1=00ff", "secret", at, nil},
		{"wrong secret", body, h, "other", at, ErrBadSignature},
		{"body changed", []byte(`{"id":"evt_2"}`), h, "secret", at, ErrBadSignature},
		{"too old", body, h, "secret", at.Add(6 * time.Minute), ErrTooOld},
		{"from the future", body, h, "secret", at.Add(-6 * time.Minute), ErrTooOld},
		{"no header", body, "", "secret", at, ErrNoSignature},
		{"no v1", body, "t=1800000000", "secret", at, ErrNoSignature},
		{"bad t", body, "t=soon,v1=00", "secret", at, ErrNoSignature},
	} {
		if err := Verify(c.body, c.header, c.secret, 5*time.Minute, c.now); err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{}`), "t=1800000000,v1=abcd")
	f.Add([]byte(``), ",,=,t=,v1")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		// Never panics, and never accepts a signature it did not make.
		if Verify(body, header, "secret", time.Hour, time.Unix(1_800_000_000, 0)) == nil {
			if header != Sign("secret", time.Unix(1_800_000_000, 0), body) && !validFor(body, header) {
				t.Fatalf("accepted %q for %q", header, body)
			}
		}
	})
}

// validFor says whether one of header's v1 values is the right one (the fuzzer may find
// the real signature with another timestamp inside the tolerance).
func validFor(body []byte, header string) bool {
	var ts string
	var sigs []string
	for _, part := range splitComma(header) {
		if len(part) > 2 && part[:2] == "t=" {
			ts = part[2:]
		}
		if len(part) > 3 && part[:3] == "v1=" {
			sigs = append(sigs, part[3:])
		}
	}
	for _, s := range sigs {
		if s == mac("secret", ts, body) {
			return true
		}
	}
	return false
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func TestNewEventIsIdempotent(t *testing.T) {
	a, _ := NewEvent(SessionStarted, "ses_1", time.Now(), map[string]string{"x": "1"})
	b, _ := NewEvent(SessionStarted, "ses_1", time.Now().Add(time.Second), map[string]string{"x": "2"})
	c, _ := NewEvent(SessionEnded, "ses_1", time.Now(), nil)
	if a.ID != b.ID || a.ID == c.ID {
		t.Fatalf("ids %s %s %s: the same fact must have one id, another fact another", a.ID, b.ID, c.ID)
	}
	var env Envelope
	if err := json.Unmarshal(a.Payload, &env); err != nil || env.ID != a.ID || env.Type != SessionStarted || string(env.Data) != `{"x":"1"}` {
		t.Fatalf("payload %s (%v)", a.Payload, err)
	}
}

func openStore(t *testing.T) *sqlstore.DB {
	db, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "hooks.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// An endpoint failing twice gets the event on the third attempt, signed; one that keeps
// failing is given up after MaxAttempts; a redirect is not a delivery.
func TestDispatcherRetriesThenGivesUp(t *testing.T) {
	db := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	calls := map[string]int{}
	var verified []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls[r.URL.Path]++
		switch {
		case r.URL.Path == "/flaky" && calls[r.URL.Path] <= 2:
			http.Error(w, "down", http.StatusServiceUnavailable)
		case r.URL.Path == "/dead":
			http.Error(w, "gone", http.StatusInternalServerError)
		case r.URL.Path == "/moved":
			http.Redirect(w, r, "/flaky", http.StatusFound)
		default:
			if Verify(body, r.Header.Get(SignatureHeader), "s-"+r.URL.Path, time.Minute, time.Now()) == nil {
				verified = append(verified, r.Header.Get("Livegate-Event-Id"))
			}
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	for _, p := range []string{"/flaky", "/dead", "/moved"} {
		if err := db.CreateWebhookEndpoint(ctx, store.WebhookEndpoint{ID: "we" + p[1:], URL: srv.URL + p, Secret: "s-" + p,
			Enabled: true, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	ev, _ := NewEvent(StreamLive, "str_1", time.Now(), map[string]string{"stream_id": "str_1"})
	if err := db.EmitEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(db, DispatchConfig{Poll: 10 * time.Millisecond, Backoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxAttempts: 4,
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	poll.Until(t, 5*time.Second, "every delivery sent", func() error {
		list, err := db.Deliveries(ctx, store.DeliveryFilter{State: store.DeliveryPending})
		if err != nil {
			return err
		}
		return poll.Want(len(list) == 0, "still pending: %+v", list)
	})
	cancel()
	<-done
	states := map[string]store.WebhookDelivery{}
	list, _ := db.Deliveries(context.Background(), store.DeliveryFilter{})
	for _, w := range list {
		states[w.EndpointID] = w
	}
	if f := states["weflaky"]; f.State != store.DeliveryDelivered || f.Attempts != 3 || f.LastStatus != 200 {
		t.Errorf("flaky endpoint: %+v, want delivered on the third attempt", f)
	}
	if f := states["wedead"]; f.State != store.DeliveryFailed || f.Attempts != 4 || f.LastStatus != 500 || f.LastError == "" {
		t.Errorf("dead endpoint: %+v, want failed after 4 attempts", f)
	}
	if f := states["wemoved"]; f.State != store.DeliveryFailed || f.LastStatus != http.StatusFound {
		t.Errorf("redirecting endpoint: %+v, want a redirect counted as a failure", f)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(verified) != 1 || verified[0] != ev.ID {
		t.Errorf("verified deliveries %v, want the event once at /flaky", verified)
	}
}

func TestBackoffGrowsToItsCap(t *testing.T) {
	d := NewDispatcher(nil, DispatchConfig{Backoff: time.Second, MaxBackoff: time.Minute})
	prev := time.Duration(0)
	for i := 1; i <= 12; i++ {
		b := d.backoff(i)
		if b > time.Minute*12/10 {
			t.Fatalf("backoff %d = %v, over the cap with jitter", i, b)
		}
		if i <= 5 && b < prev*12/10*2/3 { // doubling, with ±20% jitter
			t.Fatalf("backoff %d = %v after %v: not growing", i, b, prev)
		}
		prev = b
	}
}
