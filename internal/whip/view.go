package whip

// Viewing: WHEP, a viewer's offer for a stream, and the layer it asks for.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/livegate/livegate/internal/admission"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/sfu"
	"github.com/livegate/livegate/internal/store"
)

const maxLayerHelp = `max_layer is a simulcast layer: "low", "medium", "high" or its index (0 is the lowest)`

// parseLayer reads a simulcast layer the way a viewer names it: "low", "medium",
// "high" (or q, h, f), or an index from 0, the lowest.
func parseLayer(v string) (int, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "low", "q", "l":
		return 0, true
	case "medium", "mid", "h", "m":
		return 1, true
	case "high", "f":
		return 2, true
	case "any", "auto":
		return sfu.AnyLayer, true
	}
	var i int
	if _, err := fmt.Sscanf(v, "%d", &i); err != nil || i < 0 || i > 8 || fmt.Sprint(i) != strings.TrimSpace(v) {
		return 0, false
	}
	return i, true
}

// patchViewer changes a viewer's choices (livegate's extension to WHEP):
// {"max_layer": "low"} pins the highest simulcast layer, "any" lifts the pin.
func (h *Handler) patchViewer(w http.ResponseWriter, r *http.Request, s *session) {
	body, ok := h.readBody(w, r, h.cfg.MaxPatchBytes)
	if !ok {
		return
	}
	var req struct {
		MaxLayer *string `json:"max_layer"`
	}
	if err := json.Unmarshal([]byte(body), &req); err != nil || req.MaxLayer == nil {
		problem.Answer(w, r, problem.ErrBadJSON.With(`send {"max_layer": "low"}`))
		return
	}
	layer, ok := parseLayer(*req.MaxLayer)
	if !ok {
		problem.Answer(w, r, errBadMaxLayer.With(maxLayerHelp))
		return
	}
	s.viewer.SetMaxLayer(layer)
	w.WriteHeader(http.StatusNoContent)
}

// View handles POST /whep/{stream}.
func (h *Handler) View(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	pool := pendingKey{client: admission.ClientKey(h.clientIP(r)), token: token != ""}
	if err := h.cfg.Limits.Allow(r.Context(), admission.WHEP, pool.String()); err != nil {
		problem.Answer(w, r, err)
		return
	}
	// A draining node sends viewers elsewhere; a full one refuses before it spends
	// anything on the offer: those already watching keep what they have.
	if h.cfg.Fleet != nil && h.redirect(w, r, h.cfg.Fleet.ViewerTarget(r.Context())) {
		return
	}
	if h.cfg.Capacity != nil {
		if err := h.cfg.Capacity.AdmitViewer(); err != nil {
			// In a fleet, a node with room takes the viewer: 307 there, 503 when none has.
			if h.cfg.Fleet != nil && h.redirect(w, r, h.cfg.Fleet.Elsewhere(r.Context())) {
				return
			}
			problem.Answer(w, r, err)
			return
		}
	}
	offer, ok := h.readSDP(w, r)
	if !ok {
		return
	}
	st, ok := h.stream(w, r)
	if !ok {
		return
	}
	// Whether there is media is the SFU's to say: a publisher that has just posted its
	// offer is joined (the SFU waits for its tracks); no publisher is 409 from the SFU.
	if st.State == store.StateEnded {
		problem.Answer(w, r, problem.ErrStreamNotLive.With("the stream has ended"))
		return
	}
	maxLayer := sfu.AnyLayer
	if v := r.URL.Query().Get("max_layer"); v != "" {
		var ok bool
		if maxLayer, ok = parseLayer(v); !ok {
			problem.Answer(w, r, errBadMaxLayer.With(maxLayerHelp))
			return
		}
	}
	release, ok := h.reservePending(pool)
	if !ok {
		h.reject(w, r, "pending", errTooManyPending)
		return
	}
	pass, err := h.cfg.Gate.Admit(r.Context(), token, st)
	if err != nil {
		release()
		if !problem.Answer(w, r, err) {
			h.log.Error("admit viewer", "stream", st.ID, "err", err)
			problem.Answer(w, r, problem.ErrInternal)
		}
		return
	}
	// On a node of a fleet that does not have the stream, its origin relays it here.
	if h.cfg.Fleet != nil {
		if err := h.cfg.Fleet.Pull(r.Context(), st.ID); err != nil {
			h.log.Warn("pull from the origin", "stream", st.ID, "err", err)
		}
	}
	// The WHEP resource is named by the access session: one id per viewer, in Location,
	// Livegate-Session, /v1/sessions/{id} and the operator's kick.
	sub, answer, err := h.sfu.Subscribe(r.Context(), st.ID, pass.Session.ID, offer, sfu.SubscribeOptions{MaxLayer: maxLayer, Paid: pass.Session.Paid()})
	if err != nil {
		release()
		h.cfg.Gate.Release(pass, sessions.ReasonJoinFailed)
		h.sfuError(w, r, err)
		return
	}
	sub.OnClose(h.cfg.Gate.Attach(pass, func(sessions.Reason) { sub.Close() }))
	// The viewer counts, and stops holding a pending slot, once its media flows; a
	// connection that never comes up is closed by the SFU's connect timeout.
	sub.OnConnected(func() {
		release()
		h.cfg.Gate.Connected(pass.Session.ID)
	})
	sub.OnClose(release)
	w.Header().Set("Livegate-Session", pass.Session.ID)
	h.created(w, r, &session{id: sub.ID(), streamID: st.ID, peer: sub, close: sub.Close, viewer: sub,
		candidates: countCandidates(offer)}, "/whep/", answer)
}
