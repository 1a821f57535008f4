package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/livegate/livegate/internal/ids"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/sfu"
)

// relayTokenTTL is how long a relay token is good for: one pull's two requests.
const relayTokenTTL = 30 * time.Second

// relayToken authorizes one node to pull stream from another: the expiry and an HMAC
// of the stream and the expiry under the fleet's secret.
// errBadRelayToken answers a relay request without the fleet's token.
var errBadRelayToken = &problem.Error{Status: http.StatusUnauthorized, Type: "bad-relay-token", Title: "Relay token rejected", Msg: "relay token rejected"}

func relayToken(secret []byte, stream string, exp time.Time) string {
	b := make([]byte, 8, 8+sha256.Size)
	binary.BigEndian.PutUint64(b, uint64(exp.Unix()))
	return base64.RawURLEncoding.EncodeToString(append(b, relayMAC(secret, stream, b)...))
}

func relayMAC(secret []byte, stream string, exp []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("livegate-relay\x00"))
	m.Write([]byte(stream))
	m.Write([]byte{0})
	m.Write(exp)
	return m.Sum(nil)
}

func validRelayToken(secret []byte, stream, token string, now time.Time) bool {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 8+sha256.Size {
		return false
	}
	if time.Unix(int64(binary.BigEndian.Uint64(raw[:8])), 0).Before(now) {
		return false
	}
	return hmac.Equal(raw[8:], relayMAC(secret, stream, raw[:8])) // constant time
}

// RelayHandler serves the origin's side of relays under /internal/relay/{stream}: GET
// the layout, POST an offer for it. Only nodes of the fleet, holding its secret, get in.
func (f *Fleet) RelayHandler(streamParam func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stream := streamParam(r)
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !validRelayToken(f.secret, stream, token, time.Now()) {
			problem.Answer(w, r, errBadRelayToken)
			return
		}
		switch r.Method {
		case http.MethodGet:
			layout, err := f.sfu.RelayLayout(r.Context(), stream)
			if err != nil {
				f.relayError(w, r, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(layout)
		case http.MethodPost:
			offer, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
			if err != nil {
				problem.Answer(w, r, problem.ErrBodyTooLarge)
				return
			}
			sub, answer, err := f.sfu.Subscribe(r.Context(), stream, "relay-"+ids.Session(), string(offer), sfu.SubscribeOptions{Relay: true})
			if err != nil {
				f.relayError(w, r, err)
				return
			}
			f.log.Info("relaying to an edge", "stream", stream, "relay", sub.ID())
			w.Header().Set("Content-Type", "application/sdp")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, answer)
		default:
			problem.Answer(w, r, problem.ErrMethod)
		}
	})
}

func (f *Fleet) relayError(w http.ResponseWriter, r *http.Request, err error) {
	if !problem.Answer(w, r, err) {
		f.log.Error("relay", "err", err)
		problem.Answer(w, r, problem.ErrInternal)
	}
}

// errLayoutChanged: the origin's stream gained a track between the layout and the offer.
var errLayoutChanged = errors.New("the stream's tracks changed during the pull")

// errNotOrigin: the node named the stream's origin does not have it (it moved, or
// ended there).
var errNotOrigin = errors.New("the origin does not have the stream")

// fetchLayout asks origin for the stream's relay layout.
func (f *Fleet) fetchLayout(ctx context.Context, origin Node, stream string) ([]sfu.RelayTrack, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.relayURL(origin, stream), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+relayToken(f.secret, stream, time.Now().Add(relayTokenTTL)))
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("relay layout from %s: %w", origin.ID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusConflict || resp.StatusCode == http.StatusNotFound {
		return nil, errNotOrigin
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("relay layout from %s: %s", origin.ID, resp.Status)
	}
	var layout []sfu.RelayTrack
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&layout); err != nil {
		return nil, fmt.Errorf("relay layout from %s: %w", origin.ID, err)
	}
	return layout, nil
}

// dialer posts the edge's relay offer to origin.
func (f *Fleet) dialer(origin Node, stream string) sfu.Dial {
	return func(ctx context.Context, offer string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.relayURL(origin, stream), strings.NewReader(offer))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/sdp")
		req.Header.Set("Authorization", "Bearer "+relayToken(f.secret, stream, time.Now().Add(relayTokenTTL)))
		resp, err := f.client.Do(req)
		if err != nil {
			return "", fmt.Errorf("relay offer to %s: %w", origin.ID, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			return "", err
		}
		if resp.StatusCode == http.StatusConflict && strings.Contains(string(b), "relay-layout-changed") {
			return "", errLayoutChanged
		}
		if resp.StatusCode != http.StatusCreated {
			return "", fmt.Errorf("relay offer to %s: %s: %s", origin.ID, resp.Status, b)
		}
		return string(b), nil
	}
}

func (f *Fleet) relayURL(origin Node, stream string) string {
	base := origin.Internal
	if base == "" {
		base = origin.URL
	}
	return strings.TrimRight(base, "/") + "/internal/relay/" + stream
}
