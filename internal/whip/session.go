package whip

// Sessions: the resource a WHIP or WHEP POST creates, for trickle ICE, ICE restart and
// teardown.

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/admission"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/sfu"
	"github.com/livegate/livegate/internal/store"
)

// session is one WHIP or WHEP resource.
type session struct {
	id       string
	streamID string
	ingest   bool
	peer     sessionPeer
	close    func()
	viewer   *sfu.Subscriber // nil for a WHIP session

	mu         sync.Mutex
	etag       string
	patches    int // PATCH requests so far
	candidates int // remote candidates since the last ICE (re)start
}

// created registers the session and writes the 201 answer.
func (h *Handler) created(w http.ResponseWriter, r *http.Request, s *session, prefix, answer string) {
	ufrag, _ := s.peer.LocalICE()
	s.etag = etag(ufrag)
	h.mu.Lock()
	h.sessions[s.id] = s
	h.mu.Unlock()
	s.peer.OnClose(func() {
		h.mu.Lock()
		if h.sessions[s.id] == s {
			delete(h.sessions, s.id)
		}
		h.mu.Unlock()
	})

	hdr := w.Header()
	h.linkHeaders(hdr, s.id)
	hdr.Set("Content-Type", "application/sdp")
	hdr.Set("Location", prefix+s.streamID+"/"+s.id)
	hdr.Set("ETag", s.etag)
	hdr.Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer) //nolint:gosec // G705: an SDP answer, served as application/sdp, never as a page
}

// Options answers CORS preflights and advertises ICE servers, which a client asks for
// before its offer so that it can gather relay candidates (RFC 9725 §4.6). Its TURN
// credential is for a session of its own: no session exists yet, and one credential
// holds few allocations, all to this node.
func (h *Handler) Options(w http.ResponseWriter, r *http.Request) {
	h.linkHeaders(w.Header(), store.NewID("ice"))
	w.Header().Set("Accept-Post", "application/sdp")
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) linkHeaders(hdr http.Header, sessionID string) {
	for _, s := range h.cfg.ICEServers {
		hdr.Add("Link", fmt.Sprintf(`<%s>; rel="ice-server"`, s))
	}
	if h.cfg.TURN == nil {
		return
	}
	for _, s := range h.cfg.TURN(sessionID) {
		// Neither part needs escaping: the username is digits, a colon and an id, the
		// credential base64.
		hdr.Add("Link", fmt.Sprintf(`<%s>; rel="ice-server"; username="%s"; credential="%s"; credential-type="password"`,
			s.URL, s.Username, s.Credential))
	}
}

// Patch handles PATCH on a session: trickle ICE candidates, or an ICE restart when the
// fragment carries new credentials and If-Match is "*".
func (h *Handler) Patch(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(w, r)
	if !ok {
		return
	}
	if s.viewer != nil && contentTypeIs(r, "application/json") {
		h.patchViewer(w, r, s)
		return
	}
	if !contentTypeIs(r, "application/trickle-ice-sdpfrag") {
		problem.Answer(w, r, problem.ErrMediaType.With("PATCH takes application/trickle-ice-sdpfrag (or, on a WHEP session, application/json)"))
		return
	}
	body, ok := h.readBody(w, r, h.cfg.MaxPatchBytes)
	if !ok {
		return
	}
	if err := h.checkLines(body); err != nil {
		problem.Answer(w, r, err)
		return
	}
	frag, err := parseSDPFrag(body)
	if err != nil {
		problem.Answer(w, r, errBadSDPFrag.With(err.Error()))
		return
	}
	ifMatch := r.Header.Get("If-Match")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.patches >= h.cfg.MaxPatches {
		problem.RetryAfter(w, time.Minute)
		problem.Answer(w, r, errTooManyPatches.With(fmt.Sprintf("a session may send at most %d; start a new session", h.cfg.MaxPatches)))
		return
	}
	s.patches++
	remoteUfrag, remotePwd := s.peer.RemoteICE()
	restart := frag.Ufrag != "" && (frag.Ufrag != remoteUfrag || frag.Pwd != remotePwd)
	if restart {
		if ifMatch != "*" {
			problem.Answer(w, r, errIfMatchRequired.With("new ICE credentials restart ICE, which must be sent with If-Match: \"*\""))
			return
		}
		if len(frag.Candidates) > h.cfg.MaxCandidates {
			h.tooManyCandidates(w, r, len(frag.Candidates))
			return
		}
		local, err := s.peer.RestartICE(r.Context(), frag.Ufrag, frag.Pwd)
		if err != nil {
			h.sfuError(w, r, err)
			return
		}
		s.candidates = len(frag.Candidates)
		for _, c := range frag.Candidates {
			_ = s.peer.AddICECandidate(candidateInit(c))
		}
		ufrag, _ := s.peer.LocalICE()
		s.etag = etag(ufrag)
		w.Header().Set("Content-Type", "application/trickle-ice-sdpfrag")
		w.Header().Set("ETag", s.etag)
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, answerFrag(local))
		return
	}
	if ifMatch != "" && ifMatch != "*" && ifMatch != s.etag {
		problem.Answer(w, r, errETagMismatch.With("If-Match does not match the session's current ETag"))
		return
	}
	if s.candidates+len(frag.Candidates) > h.cfg.MaxCandidates {
		h.tooManyCandidates(w, r, s.candidates+len(frag.Candidates))
		return
	}
	s.candidates += len(frag.Candidates)
	for _, c := range frag.Candidates {
		if err := s.peer.AddICECandidate(candidateInit(c)); err != nil {
			problem.Answer(w, r, errBadCandidate.With(err.Error()))
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func candidateInit(c fragCandidate) webrtc.ICECandidateInit {
	init := webrtc.ICECandidateInit{Candidate: c.Candidate}
	if c.Mid != "" {
		mid := c.Mid
		init.SDPMid = &mid
	} else {
		zero := uint16(0)
		init.SDPMLineIndex = &zero
	}
	return init
}

// Delete ends a session: for WHIP the broadcast, for WHEP the viewer's playback.
func (h *Handler) Delete(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(w, r)
	if !ok {
		return
	}
	s.close()
	h.mu.Lock()
	delete(h.sessions, s.id)
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// session finds the session of the URL; an ingest session also needs the stream key.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) (*session, bool) {
	streamID, id := h.cfg.PathParam(r, "stream"), h.cfg.PathParam(r, "session")
	ingest := strings.HasPrefix(r.URL.Path, "/whip/")
	h.mu.Lock()
	s := h.sessions[id]
	h.mu.Unlock()
	if s == nil || s.streamID != streamID || s.ingest != ingest {
		problem.Answer(w, r, problem.ErrSessionMissing.With("the session ended or never existed"))
		return nil, false
	}
	if ingest {
		client := admission.ClientKey(h.clientIP(r))
		if err := h.cfg.Limits.Blocked(admission.WHIPKey, client); err != nil {
			problem.Answer(w, r, err)
			return nil, false
		}
		st, err := h.lookup(r.Context(), streamID)
		if errors.Is(err, store.ErrUnavailable) {
			problem.Answer(w, r, err)
			return nil, false
		}
		if err != nil || !keyMatches(r, st.KeyHash) {
			h.cfg.Limits.Spend(admission.WHIPKey, client)
			w.Header().Set("WWW-Authenticate", `Bearer realm="livegate"`)
			problem.Answer(w, r, errBadStreamKey)
			return nil, false
		}
	}
	return s, true
}

func etag(ufrag string) string { return `"` + ufrag + `"` }
