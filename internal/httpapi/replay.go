package httpapi

// Replays: the recording of an ended stream, for whoever may watch it.

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/livegate/livegate/internal/access"
	"github.com/livegate/livegate/internal/admission"
	"github.com/livegate/livegate/internal/paywall"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/recording"
	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/store"
)

// replayLinkTTL is how long a replay link works: long enough to watch a long show with
// range requests, short enough that a shared link dies. Each request also re-checks the
// entitlement, so a refund ends a link at once.
const replayLinkTTL = 6 * time.Hour

// replayWriteTimeout replaces the server's write timeout for a part being served: a
// player may read a long range slowly.
const replayWriteTimeout = 30 * time.Minute

// countReplays counts replay link requests by the status answered.
func (a *api) countReplays(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next(ww, r)
		if a.ReplayRequests != nil {
			a.ReplayRequests.WithLabelValues(strconv.Itoa(ww.Status())).Inc()
		}
	}
}

// streamReplay answers POST /v1/streams/{id}/replay: links to the recording's parts for a
// viewer entitled to the stream (as for live: ticket or subscription, in a country where
// it is sold), within the replay window after the end.
func (a *api) streamReplay(w http.ResponseWriter, r *http.Request) {
	if a.limited(w, r, admission.Access, a.client(r)) {
		return
	}
	st, err := a.Store.Stream(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	if st.State != store.StateEnded {
		problem.Answer(w, r, errStreamNotEnded.With("the stream is "+string(st.State)+": watch it live (POST /v1/streams/"+st.ID+"/access)"))
		return
	}
	if until := st.ReplayUntil(a.ReplayWindow); time.Now().After(until) {
		problem.Answer(w, r, errReplayExpired.With("the replay could be watched until "+until.UTC().Format(time.RFC3339)))
		return
	}
	parts, err := a.Store.Recordings(r.Context(), st.ID)
	if err != nil {
		a.storeError(w, r, "recording", err)
		return
	}
	playable := parts[:0:0]
	for _, p := range parts {
		if p.State != store.RecordingEmpty && p.State != store.RecordingFailed {
			playable = append(playable, p)
		}
	}
	if len(playable) == 0 {
		problem.Answer(w, r, errNoRecording.With("this stream was not recorded"))
		return
	}
	right, _, ok := a.decide(w, r, st, "replay")
	if !ok {
		return
	}
	mode := string(st.AccessMode)
	var previewMS int64
	if right.Entitlement == sessions.EntitlementPreview {
		// The free preview applies to the replay: the first part's first seconds.
		mode, previewMS, playable = "preview", right.Preview.Milliseconds(), playable[:1]
	}
	viewer := right.Viewer
	if viewer == "" {
		viewer = "anon"
	}
	base := strings.TrimRight(a.PublicURL, "/")
	type partJSON struct {
		ID         string `json:"id"`
		URL        string `json:"url"`
		State      string `json:"state"`
		DurationMS int64  `json:"duration_ms"`
		Bytes      int64  `json:"bytes"`
	}
	out := make([]partJSON, 0, len(playable))
	var expires time.Time
	for _, p := range playable {
		tok, exp, err := a.Replays.IssueReplay(viewer, access.ReplayClaims{Stream: st.ID, Recording: p.ID,
			Entitlement: right.Entitlement, PreviewMillis: previewMS}, replayLinkTTL)
		if err != nil {
			a.Logger.Error("replay link", "stream", st.ID, "err", err)
			problem.Answer(w, r, problem.ErrInternal)
			return
		}
		expires = exp
		out = append(out, partJSON{ID: p.ID, URL: base + "/replays/" + st.ID + "/" + p.ID + path.Ext(p.Key) + "?token=" + tok,
			State: p.State, DurationMS: p.DurationMS, Bytes: p.Bytes})
	}
	body := map[string]any{"stream_id": st.ID, "url": out[0].URL, "parts": out, "expires_at": expires.UTC(),
		"replay_until": st.ReplayUntil(a.ReplayWindow).UTC(), "access": mode}
	if previewMS > 0 {
		body["preview_seconds"] = previewMS / 1000
	}
	writeJSON(w, http.StatusOK, body)
}

// partTypes are the containers parts are written in, by extension.
var partTypes = map[string]string{".webm": "video/webm", ".mp4": "video/mp4"}

// servePart answers GET /replays/{stream}/{recording}.webm (or .mp4)?token=: the part, with
// range requests, while the link's viewer is still entitled to it. Nothing lists
// recordings.
func (a *api) servePart(w http.ResponseWriter, r *http.Request) {
	streamID := chi.URLParam(r, "stream")
	ext := path.Ext(chi.URLParam(r, "part"))
	recID := strings.TrimSuffix(chi.URLParam(r, "part"), ext)
	if partTypes[ext] == "" {
		problem.Answer(w, r, problem.ErrNotFound)
		return
	}
	claims, err := a.Replays.VerifyReplay(r.URL.Query().Get("token"), streamID, recID)
	if err != nil {
		problem.Answer(w, r, err)
		return
	}
	st, err := a.Store.Stream(r.Context(), streamID)
	if err != nil {
		a.storeError(w, r, "stream", err)
		return
	}
	// Whether the link's viewer may still have the bytes is paywall's to say, as for live.
	stillEntitled := func() error { return a.Decider.Holds(r.Context(), claims.Subject, st, claims.Entitlement) } //nolint:contextcheck // it uses r.Context()
	if err := stillEntitled(); err != nil {
		if errors.Is(err, paywall.ErrPurchaseEnded) {
			problem.Answer(w, r, access.ErrRevoked.With("the purchase this replay was for is no longer active (refunded, disputed or ended)"))
			return
		}
		a.storeError(w, r, "entitlement", err)
		return
	}
	if time.Now().After(st.ReplayUntil(a.ReplayWindow)) {
		problem.Answer(w, r, errReplayExpired)
		return
	}
	var key, node string
	parts, err := a.Store.Recordings(r.Context(), streamID)
	if err != nil {
		a.storeError(w, r, "recording", err)
		return
	}
	for _, p := range parts {
		if p.ID == recID && path.Ext(p.Key) == ext {
			key, node = p.Key, p.Node
		}
	}
	if key == "" {
		problem.Answer(w, r, errNoRecording.With("this part of the recording is gone"))
		return
	}
	f, modified, err := a.Recordings.Open(key)
	if err != nil && a.Parts != nil && node != "" {
		// Recorded by another node of the fleet, on its own disk: read from there.
		f, modified, err = a.Fleet.OpenPart(r.Context(), node, key)
	}
	if err != nil {
		a.Logger.Error("open recording", "stream", streamID, "recording", recID, "err", err)
		problem.Answer(w, r, errNoRecording.With("this part of the recording is gone"))
		return
	}
	defer f.Close()
	var content io.ReadSeeker = f
	if claims.PreviewMillis > 0 {
		// A preview is the part's first seconds, and nothing after them can be asked for.
		ra, ok := f.(io.ReaderAt)
		size, err := f.Seek(0, io.SeekEnd)
		if !ok || err != nil {
			problem.Answer(w, r, problem.ErrInternal)
			return
		}
		cut, err := recording.CutAfter(ra, size, claims.PreviewMillis)
		if err != nil {
			a.Logger.Error("cut a replay preview", "stream", streamID, "recording", recID, "err", err)
			problem.Answer(w, r, problem.ErrInternal)
			return
		}
		content = io.NewSectionReader(ra, 0, cut)
	}
	// A refund that lands while the part is being read ends the download at its next
	// chunk, not when the player next asks.
	content = &entitledReader{ReadSeeker: content, check: stillEntitled, next: time.Now().Add(replayRecheck)}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(replayWriteTimeout))
	w.Header().Set("Content-Type", partTypes[ext])
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", modified, content)
}

// replayRecheck is how often a paid download re-checks its entitlement while it is read.
const replayRecheck = time.Second

// entitledReader is a part being served that stops once its viewer's entitlement ends:
// each read after replayRecheck since the last check checks again, and an entitlement
// that is gone fails the read, which aborts the response. A database that does not
// answer does not end a download it already allowed.
type entitledReader struct {
	io.ReadSeeker
	check func() error
	next  time.Time
}

func (e *entitledReader) Read(p []byte) (int, error) {
	if now := time.Now(); now.After(e.next) {
		if err := e.check(); errors.Is(err, paywall.ErrPurchaseEnded) {
			return 0, fmt.Errorf("replay download stopped: %w", err)
		}
		e.next = now.Add(replayRecheck)
	}
	return e.ReadSeeker.Read(p)
}

// streamRecording answers GET /v1/streams/{id}/recording: the parts of its recording, for
// its creator and operators.
func (a *api) streamRecording(w http.ResponseWriter, r *http.Request) {
	parts, err := a.Store.Recordings(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.storeError(w, r, "recording", err)
		return
	}
	type partJSON struct {
		ID         string     `json:"id"`
		State      string     `json:"state"`
		Node       string     `json:"node"`
		StartedAt  time.Time  `json:"started_at"`
		EndedAt    *time.Time `json:"ended_at,omitempty"`
		DurationMS int64      `json:"duration_ms"`
		Bytes      int64      `json:"bytes"`
	}
	out := []partJSON{}
	liveID, liveBytes, liveMS, live := a.Recorder.Progress(chi.URLParam(r, "id"))
	for _, p := range parts {
		j := partJSON{ID: p.ID, State: p.State, Node: p.Node, StartedAt: p.StartedAt, DurationMS: p.DurationMS, Bytes: p.Bytes}
		if live && p.ID == liveID {
			j.DurationMS, j.Bytes = liveMS, liveBytes // what the checkpoint has not caught up with
		}
		if !p.EndedAt.IsZero() {
			j.EndedAt = &p.EndedAt
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"stream_id": chi.URLParam(r, "id"), "parts": out})
}

// deleteRecording answers DELETE /v1/streams/{id}/recording: the creator's recording
// gone, bytes and all; replays of it end.
func (a *api) deleteRecording(w http.ResponseWriter, r *http.Request) {
	n, err := a.Recorder.Delete(r.Context(), chi.URLParam(r, "id"))
	if errors.Is(err, recording.ErrRecording) {
		problem.Answer(w, r, errRecordingInProgress.With("the stream is being recorded: end it first"))
		return
	}
	if err != nil {
		a.storeError(w, r, "recording", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"stream_id": chi.URLParam(r, "id"), "parts_deleted": n})
}
