// Package recording records live streams on their origin node as they arrive, for
// replays: each room's video (VP8 or H.264, the top simulcast layer) and Opus tracks go,
// untranscoded, into a part in the recording storage (WebM, or fragmented MP4 for H.264); a reconnecting encoder continues the same
// part, and a part is finalized when its room ends. What was written before a crash plays.
package recording

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livegate/livegate/internal/sfu"
	"github.com/livegate/livegate/internal/store"
)

// Metrics are the recorder's.
type Metrics struct {
	BytesRecorded  prometheus.Counter
	FramesRecorded prometheus.Counter
	PacketsDropped prometheus.Counter
	InProgress     prometheus.Gauge
	// ReplayRequests counts requests for replay links, by the status answered.
	ReplayRequests *prometheus.CounterVec
	// Failures counts parts the storage refused a write to (a full disk, a bucket away).
	Failures prometheus.Counter
}

// NewMetrics registers the recorder's metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		BytesRecorded: prometheus.NewCounter(prometheus.CounterOpts{Name: "livegate_recording_bytes_total",
			Help: "Bytes written to recordings."}),
		FramesRecorded: prometheus.NewCounter(prometheus.CounterOpts{Name: "livegate_recording_frames_total",
			Help: "Video frames and audio packets written to recordings."}),
		PacketsDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "livegate_recording_packets_dropped_total",
			Help: "RTP packets a recording could not keep up with and dropped."}),
		InProgress: prometheus.NewGauge(prometheus.GaugeOpts{Name: "livegate_recordings_in_progress",
			Help: "Recordings being written on this node."}),
		Failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "livegate_recording_failures_total",
			Help: "Recording parts stopped because the storage refused a write (a full disk, a bucket away); what was written is kept."}),
		ReplayRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livegate_replay_requests_total",
			Help: "Requests for replay links, by HTTP status answered."}, []string{"status"}),
	}
	if reg != nil {
		reg.MustRegister(m.BytesRecorded, m.FramesRecorded, m.PacketsDropped, m.InProgress, m.ReplayRequests, m.Failures)
	}
	return m
}

// Storage keeps recordings' parts by key.
type Storage interface {
	// Create opens a new part for writing.
	Create(key string) (File, error)
	// Size is how many bytes a part has, as stored.
	Size(key string) (int64, error)
	Remove(key string) error
	// Open returns a part to serve, and when it was last written.
	Open(key string) (io.ReadSeekCloser, time.Time, error)
}

// Store is the durable record of recordings.
type Store interface {
	Stream(ctx context.Context, id string) (store.Stream, error)
	CreateRecording(ctx context.Context, r store.Recording) error
	FinishRecording(ctx context.Context, r store.Recording) error
	CheckpointRecording(ctx context.Context, id string, bytes, durationMS int64) error
	Recordings(ctx context.Context, streamID string) ([]store.Recording, error)
	ExpiredRecordings(ctx context.Context, defaultRetention time.Duration, now time.Time) ([]store.Recording, error)
	DeleteRecording(ctx context.Context, id string) error
}

// Room is the live room a recording taps (sfu.Room). An alias of a plain interface, so
// that a caller can declare the same type without importing this package (and the S3
// client and muxers with it): whip does.
type Room = interface {
	Tracks(ctx context.Context) ([]sfu.Track, error)
}

// Config is the recorder's.
type Config struct {
	Storage Storage
	Store   Store
	Node    string // this node's id, in each recording's row
	Metrics *Metrics
	Logger  *slog.Logger
	// Retention is how long after its stream's end a recording is kept when the stream
	// sets no retention of its own; SweepEvery how often expired ones are deleted.
	Retention  time.Duration
	SweepEvery time.Duration
}

// Recorder records the streams of one node.
type Recorder struct {
	cfg    Config
	mu     sync.Mutex
	active map[string]*active // by stream
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// checkpointEvery is how often a part's row is brought up to date while it is written:
// what a crash leaves the row saying about how long the part plays.
const checkpointEvery = 5 * time.Second

type active struct {
	rec    store.Recording
	part   *part
	tracks []sfu.Track
	sinks  []sink
}

// New returns a node's recorder.
func New(cfg Config) *Recorder {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	r := &Recorder{cfg: cfg, active: map[string]*active{}, stop: make(chan struct{})}
	r.wg.Add(1)
	go func() { defer r.wg.Done(); r.checkpoints() }() // until Close
	return r
}

// Progress is how far the part being recorded on this node for streamID has got: its
// bytes and duration now, where the stored record lags by up to checkpointEvery.
func (r *Recorder) Progress(streamID string) (recordingID string, bytes, durationMS int64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.active[streamID]
	if a == nil || a.part == nil {
		return "", 0, 0, false
	}
	bytes, durationMS = a.part.written()
	return a.rec.ID, bytes, durationMS, true
}

// checkpoints saves each part's size and duration so far, and deletes the recordings
// past their retention, until the recorder closes.
func (r *Recorder) checkpoints() {
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	sweepEvery := r.cfg.SweepEvery
	if sweepEvery <= 0 {
		sweepEvery = 10 * time.Minute
	}
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-sweep.C:
			r.sweep()
			continue
		case <-t.C:
		}
		r.mu.Lock()
		var recs []store.Recording
		for _, a := range r.active {
			if a.part != nil {
				rec := a.rec
				rec.Bytes, rec.DurationMS = a.part.written()
				recs = append(recs, rec)
			}
		}
		r.mu.Unlock()
		for _, rec := range recs {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := r.cfg.Store.CheckpointRecording(ctx, rec.ID, rec.Bytes, rec.DurationMS); err != nil {
				r.cfg.Logger.Warn("recording: checkpoint", "recording", rec.ID, "err", err)
			}
			cancel()
		}
	}
}

// ErrUnsupported means the stream's video is in a codec livegate does not record yet.
var ErrUnsupported = errors.New("recording: only VP8 or H.264 video (with Opus audio) is recorded")

// Record starts a new part of the stream's recording from its room, when the stream's
// creator records it. It returns once the part is being written.
func (r *Recorder) Record(ctx context.Context, streamID string, room Room) error {
	st, err := r.cfg.Store.Stream(ctx, streamID)
	if err != nil {
		return fmt.Errorf("recording %s: %w", streamID, err)
	}
	if !st.Record {
		return nil
	}
	r.mu.Lock()
	if r.closed || r.active[streamID] != nil {
		r.mu.Unlock()
		return nil
	}
	a := &active{}
	r.active[streamID] = a // claimed while the tracks are awaited
	r.mu.Unlock()
	if err := r.start(ctx, st, room, a); err != nil {
		r.mu.Lock()
		delete(r.active, streamID)
		r.mu.Unlock()
		return err
	}
	return nil
}

func (r *Recorder) start(ctx context.Context, st store.Stream, room Room, a *active) error {
	tracks, err := room.Tracks(ctx)
	if err != nil {
		return fmt.Errorf("recording %s: %w", st.ID, err)
	}
	var video, audio *sfu.Track
	for i := range tracks {
		t := &tracks[i]
		switch {
		case video == nil && t.Kind == "video" && (strings.EqualFold(t.MimeType, "video/vp8") || strings.EqualFold(t.MimeType, "video/h264")):
			video = t
		case audio == nil && t.Kind == "audio" && strings.EqualFold(t.MimeType, "audio/opus"):
			audio = t
		}
	}
	if video == nil {
		return fmt.Errorf("%w (stream %s)", ErrUnsupported, st.ID)
	}
	chosen := []sfu.Track{*video}
	if audio != nil {
		chosen = append(chosen, *audio)
	}
	rec := store.Recording{ID: store.NewID("rec"), StreamID: st.ID, CreatorID: st.CreatorID, Node: r.cfg.Node,
		State: store.RecordingInProgress, StartedAt: time.Now().UTC().Truncate(time.Microsecond)}
	rec.Key = st.ID + "/" + rec.ID + ".webm"
	if strings.EqualFold(video.MimeType, "video/h264") {
		rec.Key = st.ID + "/" + rec.ID + ".mp4" // Safari, Chrome and Firefox play H.264 from MP4, not from WebM
	}
	f, err := r.cfg.Storage.Create(rec.Key)
	if err != nil {
		return fmt.Errorf("recording %s: %w", st.ID, err)
	}
	if err := r.cfg.Store.CreateRecording(ctx, rec); err != nil {
		_ = f.Close()
		_ = r.cfg.Storage.Remove(rec.Key)
		return fmt.Errorf("recording %s: %w", st.ID, err)
	}
	infos := make([]sfu.TrackInfo, len(chosen))
	for i, t := range chosen {
		infos[i] = t.TrackInfo
	}
	log := r.cfg.Logger.With("stream", st.ID, "recording", rec.ID)
	p := newPart(f, infos, video.RequestKeyframe, r.cfg.Metrics, log)
	var sinks []sink
	for i := range chosen {
		sinks = append(sinks, sink{p: p, t: p.tracks[i]})
	}
	r.cfg.Metrics.InProgress.Inc()
	r.mu.Lock()
	a.rec, a.part, a.tracks, a.sinks = rec, p, chosen, sinks
	ended := r.active[st.ID] != a // the room ended while its tracks were awaited
	r.mu.Unlock()
	if ended {
		r.finish(ctx, a)
		return nil
	}
	for i, t := range chosen {
		t.Attach(sinks[i])
	}
	// A part the storage refuses ends at once, not when the stream does: its row stops
	// saying "recording", and what was written plays.
	life := context.WithoutCancel(ctx) // the part outlives the call that started it
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		select {
		case <-p.failed:
			r.mu.Lock()
			mine := r.active[st.ID] == a
			if mine {
				delete(r.active, st.ID)
			}
			r.mu.Unlock()
			if mine {
				ctx, cancel := context.WithTimeout(life, 30*time.Second)
				r.finish(ctx, a)
				cancel()
			}
		case <-p.done:
		case <-r.stop: // Close finishes it
		}
	}()
	log.Info("recording", "key", rec.Key, "tracks", len(chosen))
	return nil
}

// Finish ends the stream's part on this node, if one is being written, and waits until
// it is complete and its row says so.
func (r *Recorder) Finish(ctx context.Context, streamID string) {
	r.mu.Lock()
	a := r.active[streamID]
	delete(r.active, streamID)
	started := a != nil && a.part != nil
	r.mu.Unlock()
	if started {
		r.finish(ctx, a)
	}
}

func (r *Recorder) finish(ctx context.Context, a *active) {
	for i, t := range a.tracks {
		t.Detach(a.sinks[i])
	}
	a.part.Stop()
	r.cfg.Metrics.InProgress.Dec()
	rec := a.rec
	rec.EndedAt = time.Now().UTC().Truncate(time.Microsecond)
	rec.Bytes = a.part.file.n.Load()
	rec.DurationMS = a.part.lastMS
	rec.State = store.RecordingComplete
	if !a.part.started {
		rec.State, rec.Bytes = store.RecordingEmpty, 0 // no keyframe ever came
		_ = r.cfg.Storage.Remove(rec.Key)
	}
	if a.part.fatal != nil {
		// What was written before the storage refused plays up to its last whole block,
		// as a part a crash cut off does.
		r.cfg.Metrics.Failures.Inc()
		rec.State = store.RecordingFailed
		if n, err := r.cfg.Storage.Size(rec.Key); err == nil && n > 0 && a.part.started {
			rec.State, rec.Bytes = store.RecordingInterrupted, n
		}
		r.cfg.Logger.Warn("recording stopped: the storage refused a write", "stream", rec.StreamID, "recording", rec.ID,
			"kept", rec.State, "bytes", rec.Bytes, "err", a.part.fatal)
	}
	if err := r.cfg.Store.FinishRecording(ctx, rec); err != nil {
		r.cfg.Logger.Error("recording: finish", "stream", rec.StreamID, "recording", rec.ID, "err", err)
		return
	}
	r.cfg.Logger.Info("recording finished", "stream", rec.StreamID, "recording", rec.ID, "state", rec.State,
		"bytes", rec.Bytes, "duration_ms", rec.DurationMS)
}

// sweep deletes the recordings past their retention.
func (r *Recorder) sweep() {
	if r.cfg.Retention <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	expired, err := r.cfg.Store.ExpiredRecordings(ctx, r.cfg.Retention, time.Now())
	if err != nil {
		r.cfg.Logger.Warn("recording: retention sweep", "err", err)
		return
	}
	for _, rec := range expired {
		if err := r.remove(ctx, rec); err != nil {
			r.cfg.Logger.Warn("recording: delete expired", "recording", rec.ID, "err", err)
			continue
		}
		r.cfg.Logger.Info("recording deleted: past its retention", "stream", rec.StreamID, "recording", rec.ID)
	}
}

// remove deletes a part: its bytes, then its row (a row without bytes would still be
// offered; bytes without a row are only wasted).
func (r *Recorder) remove(ctx context.Context, rec store.Recording) error {
	if err := r.cfg.Storage.Remove(rec.Key); err != nil {
		return fmt.Errorf("remove %s: %w", rec.Key, err)
	}
	return r.cfg.Store.DeleteRecording(ctx, rec.ID)
}

// ErrRecording means a stream's recording cannot be deleted while it is being written.
var ErrRecording = errors.New("recording: the stream is being recorded")

// Delete deletes a stream's whole recording (the creator's choice), and says how many
// parts it had.
func (r *Recorder) Delete(ctx context.Context, streamID string) (int, error) {
	r.mu.Lock()
	busy := r.active[streamID] != nil
	r.mu.Unlock()
	if busy {
		return 0, ErrRecording
	}
	parts, err := r.cfg.Store.Recordings(ctx, streamID)
	if err != nil {
		return 0, err
	}
	for _, p := range parts {
		if p.State == store.RecordingInProgress {
			return 0, ErrRecording // another node of the fleet writes it
		}
	}
	for _, p := range parts {
		if err := r.remove(ctx, p); err != nil {
			return 0, err
		}
	}
	return len(parts), nil
}

// Close finishes every part this node is writing (the node is stopping).
func (r *Recorder) Close(ctx context.Context) {
	r.mu.Lock()
	if !r.closed {
		close(r.stop)
	}
	r.closed = true
	all := r.active
	r.active = map[string]*active{}
	r.mu.Unlock()
	r.wg.Wait()
	for _, a := range all {
		r.mu.Lock()
		started := a.part != nil
		r.mu.Unlock()
		if started {
			r.finish(ctx, a)
		}
	}
}

// Recover marks the parts this node was writing when it stopped without finishing them
// (a crash) as interrupted: each plays up to its last whole block. Its size is the
// stored part's; its duration the last checkpoint's.
func (r *Recorder) Recover(ctx context.Context, list func(ctx context.Context, node string) ([]store.Recording, error)) error {
	recs, err := list(ctx, r.cfg.Node)
	if err != nil {
		return fmt.Errorf("recordings in progress: %w", err)
	}
	salvage, _ := r.cfg.Storage.(interface{ Salvage(key string) error })
	for _, rec := range recs {
		if salvage != nil {
			if err := salvage.Salvage(rec.Key); err != nil {
				return fmt.Errorf("recording %s: %w", rec.ID, err)
			}
		}
		rec.State = store.RecordingInterrupted
		rec.EndedAt = time.Now().UTC().Truncate(time.Microsecond)
		if n, err := r.cfg.Storage.Size(rec.Key); err == nil {
			rec.Bytes = n
		}
		if err := r.cfg.Store.FinishRecording(ctx, rec); err != nil {
			return err
		}
		r.cfg.Logger.Warn("recording interrupted by a restart; it plays up to where it stopped", "stream", rec.StreamID,
			"recording", rec.ID, "bytes", rec.Bytes)
	}
	return nil
}
