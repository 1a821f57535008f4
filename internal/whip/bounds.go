package whip

// Bounds: what a request may be (its size, its SDP, its candidates, the offers a client
// may have pending), and the answers for what it may not.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/sfu"
	"github.com/livegate/livegate/internal/store"
)

func (h *Handler) clientIP(r *http.Request) netip.Addr {
	if h.cfg.ClientIP != nil {
		return h.cfg.ClientIP(r)
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// errTooManyPending refuses a viewer whose address (or node) has too many connections
// still coming up. Retry-After is about the connect timeout, by when those ahead of it
// are up or gone.
var errTooManyPending = &problem.Error{Status: http.StatusTooManyRequests, Type: "too-many-pending",
	Title: "Too many connections pending", RetryAfter: 5 * time.Second,
	Msg: "too many viewer connections from this address (or on this node) are still connecting", Hint: "retry shortly"}

// reservePending takes a pending slot for client; release gives it back, once however
// often it is called. ok is false when the caps are full.
func (h *Handler) reservePending(client pendingKey) (release func(), ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if (h.cfg.MaxPending > 0 && h.pendingN >= h.cfg.MaxPending) ||
		(h.cfg.MaxPendingPerClient > 0 && h.pending[client] >= h.cfg.MaxPendingPerClient) {
		return nil, false
	}
	h.pending[client]++
	h.pendingN++
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.pending[client]--; h.pending[client] <= 0 {
				delete(h.pending, client)
			}
			h.pendingN--
		})
	}, true
}

// reject answers a request a limit refused, and counts it under limit.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, limit string, err *problem.Error) {
	if h.cfg.Rejected != nil {
		h.cfg.Rejected.WithLabelValues(limit).Inc()
	}
	problem.Answer(w, r, err)
}

// lookup reads stream id. With the database away, a stream live in a room here is what
// this node last read of it: its viewers' joins and its publisher's DELETE are decided
// from that (a free stream's, a token's, the stream key's).
func (h *Handler) lookup(ctx context.Context, id string) (store.Stream, error) {
	st, err := h.streams.Stream(ctx, id)
	if err == nil {
		if h.sfu.Room(id) != nil {
			h.held.Store(id, st)
		} else {
			h.held.Delete(id)
		}
		return st, nil
	}
	if held, ok := h.held.Load(id); ok && errors.Is(err, store.ErrUnavailable) && h.sfu.Room(id) != nil {
		return held.(store.Stream), nil
	}
	return st, err
}

func (h *Handler) stream(w http.ResponseWriter, r *http.Request) (store.Stream, bool) {
	id := h.cfg.PathParam(r, "stream")
	st, err := h.lookup(r.Context(), id)
	if err == nil {
		return st, true
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		problem.Answer(w, r, problem.ErrStreamNotFound.With(fmt.Sprintf("stream %q does not exist", id)))
	case problem.Answer(w, r, err): // the database unavailable: 503
	default:
		h.log.Error("load stream", "stream", id, "err", err)
		problem.Answer(w, r, problem.ErrInternal)
	}
	return st, false
}

// readSDP checks the content type and reads a bounded SDP body.
func (h *Handler) readSDP(w http.ResponseWriter, r *http.Request) (string, bool) {
	if !contentTypeIs(r, "application/sdp") {
		problem.Answer(w, r, problem.ErrMediaType.With("POST an SDP offer as application/sdp"))
		return "", false
	}
	body, ok := h.readBody(w, r, h.cfg.MaxBodyBytes)
	if !ok {
		return "", false
	}
	if strings.TrimSpace(body) == "" {
		problem.Answer(w, r, sfu.ErrBadOffer.With("the body is empty"))
		return "", false
	}
	if err := h.checkSDP(body); err != nil {
		problem.Answer(w, r, err)
		return "", false
	}
	return body, true
}

// checkSDP bounds what an offer may ask of the node before any SDP parser sees it:
// each media section is a transceiver with its own buffers, each candidate a pair to
// check, and a huge line only ever comes from a fuzzer or an attacker.
func (h *Handler) checkSDP(sdp string) *problem.Error {
	if err := h.checkLines(sdp); err != nil {
		return err
	}
	sections, candidates := 0, 0
	for line := range strings.Lines(sdp) {
		switch {
		case strings.HasPrefix(line, "m="):
			sections++
		case strings.HasPrefix(line, "a=candidate:"):
			candidates++
		}
	}
	if sections > h.cfg.MaxMediaSections {
		return &problem.Error{Status: http.StatusRequestEntityTooLarge, Type: "too-many-media-sections",
			Title: "Too many media sections", Msg: fmt.Sprintf("%d media sections; an offer may have at most %d", sections, h.cfg.MaxMediaSections)}
	}
	if candidates > h.cfg.MaxCandidates {
		return h.candidatesError(candidates)
	}
	return nil
}

// checkLines refuses a body with a line longer than MaxSDPLine.
func (h *Handler) checkLines(body string) *problem.Error {
	n := 0
	for line := range strings.Lines(body) {
		n++
		if len(line) > h.cfg.MaxSDPLine {
			return &problem.Error{Status: http.StatusRequestEntityTooLarge, Type: "sdp-line-too-long", Title: "SDP line too long",
				Msg: fmt.Sprintf("line %d has %d bytes; the limit is %d", n, len(line), h.cfg.MaxSDPLine)}
		}
	}
	return nil
}

func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, limit int64) (string, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		problem.Answer(w, r, problem.ErrBodyTooLarge.With(fmt.Sprintf("the limit is %d bytes", limit)))
		return "", false
	}
	if err != nil {
		problem.Answer(w, r, errBadBody.With(err.Error()))
		return "", false
	}
	return string(b), true
}

func (h *Handler) sfuError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case problem.Answer(w, r, err):
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		problem.Answer(w, r, errNegotiationTimeout)
	default:
		h.log.Error("negotiation failed", "path", r.URL.Path, "err", err)
		problem.Answer(w, r, problem.ErrInternal)
	}
}

// countCandidates counts the a=candidate lines of an SDP body.
func countCandidates(sdp string) int {
	n := 0
	for line := range strings.Lines(sdp) {
		if strings.HasPrefix(line, "a=candidate:") {
			n++
		}
	}
	return n
}

func (h *Handler) candidatesError(n int) *problem.Error {
	return &problem.Error{Status: http.StatusRequestEntityTooLarge, Type: "too-many-candidates", Title: "Too many ICE candidates",
		Msg: fmt.Sprintf("%d candidates; a session may have at most %d", n, h.cfg.MaxCandidates)}
}

func (h *Handler) tooManyCandidates(w http.ResponseWriter, r *http.Request, n int) {
	problem.Answer(w, r, h.candidatesError(n))
}

func contentTypeIs(r *http.Request, want string) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == want
}
