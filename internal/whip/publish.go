package whip

// Publishing: WHIP, an encoder's offer for a stream it holds the key of.

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/livegate/livegate/internal/admission"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/sfu"
	"github.com/livegate/livegate/internal/store"
)

// HashKey is how stream keys are stored.
func HashKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// Publish handles POST /whip/{stream}.
func (h *Handler) Publish(w http.ResponseWriter, r *http.Request) {
	client := admission.ClientKey(h.clientIP(r))
	if err := h.cfg.Limits.Allow(r.Context(), admission.WHIP, client); err != nil {
		problem.Answer(w, r, err)
		return
	}
	// A client whose keys keep failing waits before it may try again, right or wrong.
	if err := h.cfg.Limits.Blocked(admission.WHIPKey, client); err != nil {
		problem.Answer(w, r, err)
		return
	}
	offer, ok := h.readSDP(w, r)
	if !ok {
		return
	}
	st, ok := h.stream(w, r)
	if !ok {
		return
	}
	if !keyMatches(r, st.KeyHash) {
		h.cfg.Limits.Spend(admission.WHIPKey, client)
		w.Header().Set("WWW-Authenticate", `Bearer realm="livegate"`)
		problem.Answer(w, r, errBadStreamKey.With("send the stream key as Authorization: Bearer <key>"))
		return
	}
	if st.State == store.StateEnded {
		problem.Answer(w, r, problem.ErrStreamEnded.With("create a new stream to go live again"))
		return
	}
	if h.redirect(w, r, h.publisherTarget(r, st.ID)) {
		return
	}
	streamID := st.ID
	// The callbacks run long after this request, for the stream's whole life: they keep
	// its context's values, never its cancellation.
	life := context.WithoutCancel(r.Context())
	pub, answer, err := h.sfu.Publish(r.Context(), streamID, offer, sfu.PublishOptions{
		// The stream goes live when media can flow, not when the offer arrives.
		OnLive: func() {
			ctx, cancel := context.WithTimeout(life, 10*time.Second)
			defer cancel()
			h.cfg.Lifecycle.WentLive(ctx, streamID)
			if room := h.sfu.Room(streamID); room != nil && h.cfg.Recorder != nil {
				if err := h.cfg.Recorder.Record(ctx, streamID, room); err != nil {
					h.log.Warn("stream not recorded", "stream", streamID, "err", err)
				}
			}
		},
		OnEnd: func(reason string, wasLive bool) {
			h.held.Delete(streamID)
			if h.cfg.Recorder != nil {
				// The part is complete before the stream is seen to end.
				ctx, cancel := context.WithTimeout(life, 30*time.Second)
				h.cfg.Recorder.Finish(ctx, streamID)
				cancel()
			}
			if h.cfg.Fleet != nil {
				ctx, cancel := context.WithTimeout(life, 5*time.Second)
				h.cfg.Fleet.Ended(ctx, streamID)
				cancel()
				if reason == sfu.ReasonShutdown {
					// A node of a fleet going away does not end its streams: the encoder
					// reconnects to another node, or the fleet ends the stream once its
					// grace window has passed with no origin.
					h.log.Info("node stopping; the stream stays live for its encoder to reconnect elsewhere", "stream", streamID)
					return
				}
			}
			if !wasLive {
				h.log.Info("publisher never connected; stream unchanged", "stream", streamID, "reason", reason)
				return
			}
			ctx, cancel := context.WithTimeout(life, 10*time.Second)
			defer cancel()
			if err := h.cfg.Lifecycle.End(ctx, streamID, reason); err != nil {
				h.log.Error("end stream", "stream", streamID, "err", err)
			}
		},
	})
	if err != nil {
		h.sfuError(w, r, err)
		return
	}
	if h.cfg.Fleet != nil {
		// The origin from the moment its encoder is accepted: a viewer on another node
		// right after the WHIP answer finds the stream here (the relay waits for tracks).
		h.cfg.Fleet.Live(r.Context(), streamID)
	}
	h.held.Store(streamID, st) // what its joins are decided from should the database go away
	h.log.Info("publisher joined", "stream", streamID, "session", pub.ID())
	h.created(w, r, &session{id: pub.ID(), streamID: streamID, ingest: true, peer: pub, close: pub.Close,
		candidates: countCandidates(offer)}, "/whip/", answer)
}

func (h *Handler) publisherTarget(r *http.Request, stream string) string {
	if h.cfg.Fleet == nil {
		return ""
	}
	return h.cfg.Fleet.PublisherTarget(r.Context(), stream)
}

// hopParam marks a request another node of the fleet sent here: it is served or
// refused here, never sent on, so that two nodes whose views of each other are a
// heartbeat old cannot bounce a client between them.
const hopParam = "lg_hop"

// redirect answers 307 to the same path on the node at base; false when base is "" or
// the request was sent here by another node already. 307 keeps the method and the body:
// the client posts its offer there.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, base string) bool {
	if base == "" || r.URL.Query().Has(hopParam) {
		return false
	}
	q := r.URL.Query()
	q.Set(hopParam, "1")
	// base is a node's own address from the fleet registry, never the caller's say.
	http.Redirect(w, r, strings.TrimRight(base, "/")+r.URL.Path+"?"+q.Encode(), http.StatusTemporaryRedirect) //nolint:gosec // G710: see above
	return true
}

// keyMatches compares the bearer key's hash with the stored one in constant time.
func keyMatches(r *http.Request, hash []byte) bool {
	auth := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || key == "" || len(hash) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare(HashKey(strings.TrimSpace(key)), hash) == 1
}
