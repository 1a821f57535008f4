// Package notify posts livegate's events to the embedding platform as webhooks (not to be
// confused with the Stripe webhooks that billing receives): entitlements
// granted and revoked, streams going live and ending, viewer sessions starting and
// ending, tips received. Each event is recorded in the transaction (or at the moment)
// that makes it true, with one delivery per endpoint; every node's Dispatcher sends what
// is due, signed like Stripe's webhooks (HMAC-SHA256 over a timestamp and the body),
// retried with backoff until the endpoint answers 2xx: at least once.
package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// Event types.
const (
	EntitlementGranted = "entitlement.granted"
	EntitlementRevoked = "entitlement.revoked"
	StreamLive         = "stream.live"
	StreamEnded        = "stream.ended"
	SessionStarted     = "session.started"
	SessionEnded       = "session.ended"
	TipReceived        = "tip.received"
)

// Types lists every event type, for validating an endpoint's subscription.
var Types = []string{EntitlementGranted, EntitlementRevoked, StreamLive, StreamEnded, SessionStarted, SessionEnded, TipReceived}

// KnownType says whether t is an event type (or "*").
func KnownType(t string) bool {
	if t == "*" {
		return true
	}
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">".
const SignatureHeader = "Livegate-Signature"

// Envelope is the JSON body of every event.
type Envelope struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Created int64           `json:"created"`
	Data    json.RawMessage `json:"data"`
}

// NewEvent builds the event of typ about key (what it is about: an entitlement id, a
// session id...). Its id is derived from both, so the same fact emitted twice, by a retry
// or by two nodes, is one event.
func NewEvent(typ, key string, at time.Time, data any) (store.OutboundEvent, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return store.OutboundEvent{}, fmt.Errorf("event %s: %w", typ, err)
	}
	sum := sha256.Sum256([]byte(typ + "|" + key))
	id := "evt_" + hex.EncodeToString(sum[:12])
	at = at.UTC().Truncate(time.Microsecond)
	body, err := json.Marshal(Envelope{ID: id, Type: typ, Created: at.Unix(), Data: raw})
	if err != nil {
		return store.OutboundEvent{}, err
	}
	return store.OutboundEvent{ID: id, Type: typ, Payload: body, CreatedAt: at}, nil
}

// Emitter records events outside a transaction (the media plane's facts).
type Emitter struct {
	st  store.Webhooks
	log *slog.Logger
}

// NewEmitter returns an emitter over st.
func NewEmitter(st store.Webhooks, log *slog.Logger) *Emitter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Emitter{st: st, log: log}
}

// Emit records an event; a failure is logged, never returned: what happened in the media
// plane has happened whether or not the platform hears of it.
func (e *Emitter) Emit(ctx context.Context, typ, key string, data any) {
	if e == nil {
		return
	}
	ev, err := NewEvent(typ, key, time.Now(), data)
	if err == nil {
		err = e.st.EmitEvent(ctx, ev)
	}
	if err != nil {
		e.log.Warn("emit webhook event", "type", typ, "key", key, "err", err)
	}
}

// Sign is the signature header of body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("no valid signature")
	ErrTooOld       = errors.New("signature timestamp outside the tolerance")
	ErrBadSignature = errors.New("signature does not match")
)

// Verify checks a received event the way a receiver should: the signature header's
// timestamp within tolerance of now, and one v1 signature matching (compared in constant
// time). Several v1 values may be present while a secret is rolled.
func Verify(body []byte, header, secret string, tolerance time.Duration, now time.Time) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrNoSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrTooOld
	}
	want := []byte(mac(secret, ts, body))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return nil
		}
	}
	return ErrBadSignature
}
