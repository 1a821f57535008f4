package recording

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/livegate/livegate/internal/sfu"
)

// A part is written without transcoding (the frames are the encoder's) in a container
// every browser's <video> plays with range requests. VP8 with Opus goes into WebM through
// ebml-go's Matroska block writer, the one pion's own examples record with. It writes the
// Segment and its Clusters with unknown sizes, so every block is in the file once
// written: a part cut short by a crash plays up to its last whole block. On a clean end
// it fills in the duration and a seek index (Cues) in space reserved at the front.
// H.264 with Opus goes into fragmented MP4 (mp4.go).

// cuesReserve is the space kept for the seek index: a cue per cluster (a cluster starts
// on each keyframe, at least every 2 s) takes some 20 bytes, so this indexes a day.
const cuesReserve = 1 << 20

// keyframeEvery is the longest a part goes without a keyframe while its encoder answers
// requests: a preview's cut, a seek and a cluster land on one at least this often.
// Browsers and aiortc send keyframes only when asked, OBS's default interval is long.
// The requests go through the room's throttle, shared with the viewers' own.
const keyframeEvery = 2 * time.Second

// clusterMaxMS bounds a WebM cluster's length whatever the encoder does.
const clusterMaxMS = 2000

// queueLen bounds the packets waiting for the part's writer: some seconds of a stream.
const queueLen = 2048

// File is where a part is written: a file, or what an object store buffers.
type File interface {
	io.WriteCloser
	io.WriterAt
}

// packet is one RTP packet copied off the receiver's goroutine.
type packet struct {
	track  int
	pkt    rtp.Packet
	at     time.Time
	rebase bool // the track's source changed before this packet (a reconnected encoder)
}

// track maps one track's RTP timeline onto the part's milliseconds.
type track struct {
	info      sfu.TrackInfo
	number    uint64
	video     bool
	builder   *samplebuilder.SampleBuilder
	based     bool
	prevTS    uint32
	elapsed   int64 // RTP units since baseMS
	baseMS    int64
	lastMS    int64
	waitKey   bool  // video: drop until a keyframe (the start, a gap, a new source)
	lastKeyMS int64 // video: when the newest keyframe was written
	// last is the header of the newest packet the builder was given (pushed says there is
	// one): drain ends the frame it belongs to with a packet after it.
	last   rtp.Header
	pushed bool

	rebase atomic.Bool // set on the receiver's goroutine, taken with the next packet
}

// part is one file of a stream's recording being written: what one room on one node
// received. One goroutine writes it; the room's receivers hand it packets.
type part struct {
	log     *slog.Logger
	metrics *Metrics
	file    *counted
	mux     muxer
	tracks  []*track
	in      chan packet
	stop    chan struct{}
	done    chan struct{}

	// The writer goroutine's own.
	start   time.Time // wall clock of millisecond 0: the first keyframe
	started bool
	lastMS  int64
	fatal   error

	progress atomic.Int64 // lastMS, for the checkpoints read off the writer goroutine

	askKey func() // asks the encoder for a keyframe
	asked  time.Time

	mu      sync.Mutex
	stopped bool

	// failed is closed when the part is abandoned (the storage refused a write).
	failed   chan struct{}
	failOnce sync.Once
}

func newPart(f File, infos []sfu.TrackInfo, askKey func(), m *Metrics, log *slog.Logger) *part {
	p := makePart(f, infos, askKey, m, log)
	go p.run() // until Stop
	return p
}

// makePart is a part whose writer is not running yet.
func makePart(f File, infos []sfu.TrackInfo, askKey func(), m *Metrics, log *slog.Logger) *part {
	p := &part{log: log, metrics: m, file: &counted{File: f, metrics: m}, in: make(chan packet, queueLen),
		stop: make(chan struct{}), done: make(chan struct{}), askKey: askKey, failed: make(chan struct{})}
	p.mux = &webmMuxer{file: p.file, log: log}
	if len(infos) > 0 && strings.EqualFold(infos[0].MimeType, "video/h264") {
		p.mux = &mp4Muxer{out: p.file}
	}
	for i, info := range infos {
		t := &track{info: info, number: uint64(i + 1), video: info.Kind == "video"}
		t.builder = newBuilder(info)
		t.waitKey = t.video
		p.tracks = append(p.tracks, t)
	}
	return p
}

func newBuilder(info sfu.TrackInfo) *samplebuilder.SampleBuilder {
	var d rtp.Depacketizer = &codecs.OpusPacket{}
	switch strings.ToLower(info.MimeType) {
	case "video/vp8":
		d = &codecs.VP8Packet{}
	case "video/h264":
		d = &codecs.H264Packet{} // Annex B access units
	}
	return samplebuilder.New(256, d, info.ClockRate, samplebuilder.WithMaxTimeDelay(time.Second))
}

// muxer writes a part's container.
type muxer interface {
	// begin starts the container at the first keyframe (errNoParameterSets: wait for
	// another).
	begin(tracks []*track, key []byte) error
	write(t *track, key bool, ms int64, data []byte) error
	// close completes the container and closes the file.
	close() error
}

// isKeyframe says whether a whole video frame is a keyframe, from its own bytes.
func isKeyframe(mime string, frame []byte) bool {
	switch strings.ToLower(mime) {
	case "video/h264":
		au, err := annexB(frame)
		return err == nil && h264.IsRandomAccess(au)
	}
	return frame[0]&0x01 == 0 // VP8 frame tag: a keyframe has the P bit clear
}

// sink is one track's way into the part, as the SFU hands packets to a viewer.
type sink struct {
	p *part
	t *track
}

func (s sink) WriteRTP(h *rtp.Header, payload []byte, _ bool) bool {
	pk := packet{track: int(s.t.number - 1), at: time.Now(), rebase: s.t.rebase.Swap(false)}
	// The header by value, without its extensions (the muxers need none): no allocation
	// but the payload's copy, on the goroutine that feeds every viewer.
	pk.pkt.Header = *h
	pk.pkt.Header.Extension, pk.pkt.Header.Extensions, pk.pkt.Header.CSRC = false, nil, nil
	pk.pkt.Payload = append([]byte(nil), payload...)
	select {
	case s.p.in <- pk:
		return true
	default:
		// The disk is behind: drop rather than hold up the viewers' fan-out. The gap
		// shows as a frame missing; video waits for the next keyframe.
		s.p.metrics.PacketsDropped.Inc()
		return false
	}
}

func (s sink) Detached()        {}
func (s sink) Rebase(time.Time) { s.t.rebase.Store(true) }

// written is how much of the part is on its storage so far: bytes and milliseconds of
// the show; safe off the writer goroutine.
func (p *part) written() (bytes, durationMS int64) { return p.file.n.Load(), p.progress.Load() }

func (p *part) run() {
	defer close(p.done)
	for {
		select {
		case pk := <-p.in:
			p.handle(pk)
		case <-p.stop:
			for {
				select {
				case pk := <-p.in:
					p.handle(pk)
				default:
					p.finish()
					return
				}
			}
		}
	}
}

func (p *part) handle(pk packet) {
	t := p.tracks[pk.track]
	if pk.rebase {
		p.drain(t, true)
		t.builder = newBuilder(t.info)
		t.pushed = false
		t.based = false
		t.waitKey = t.video
	}
	t.builder.Push(&pk.pkt)
	if !t.pushed || seqAfter(pk.pkt.SequenceNumber, t.last.SequenceNumber) {
		t.last, t.pushed = pk.pkt.Header, true
	}
	for s := t.builder.Pop(); s != nil; s = t.builder.Pop() {
		p.sample(t, s.Data, s.PacketTimestamp, s.PrevDroppedPackets > 0, pk.at)
	}
}

// drain writes what the track's sample builder still holds. The builder holds a frame
// until a packet of the next one arrives; flush ends the last frame that way, with an
// empty packet after it (which is never a sample itself). pion's own Flush is not used:
// its purge loop can spin forever on a builder in some states, which once kept a node
// from stopping.
func (p *part) drain(t *track, flush bool) {
	if flush && t.pushed {
		end := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: t.last.PayloadType, SSRC: t.last.SSRC,
			SequenceNumber: t.last.SequenceNumber + 1, Timestamp: t.last.Timestamp + 1}}
		t.builder.Push(&end)
		t.pushed = false
	}
	for s := t.builder.Pop(); s != nil; s = t.builder.Pop() {
		p.sample(t, s.Data, s.PacketTimestamp, s.PrevDroppedPackets > 0, time.Now())
	}
}

func (p *part) sample(t *track, data []byte, ts uint32, lost bool, at time.Time) {
	if p.fatal != nil || len(data) == 0 {
		return
	}
	key := true
	if t.video {
		key = isKeyframe(t.info.MimeType, data)
		if lost {
			t.waitKey = true // what follows a lost frame decodes wrong until a keyframe
		}
		if t.waitKey && !key {
			if now := time.Now(); now.Sub(p.asked) > time.Second {
				p.asked = now
				p.askKey() // rather than wait for the encoder's own next keyframe
			}
			return
		}
		t.waitKey = false
	}
	if t.video && p.started && !key {
		p.keepKeyframesComing(t, at)
	}
	if !p.started {
		if !t.video || !key {
			return // a part starts on a keyframe
		}
		err := p.mux.begin(p.tracks, data)
		if errors.Is(err, errNoParameterSets) {
			t.waitKey = true // the next keyframe may bring them
			return
		}
		if err != nil {
			p.fail(err)
			return
		}
		p.started, p.start = true, at
	}
	if !t.based {
		t.based, t.prevTS, t.elapsed = true, ts, 0
		t.baseMS = max(at.Sub(p.start).Milliseconds(), t.lastMS)
	}
	t.elapsed += int64(int32(ts - t.prevTS)) // unwraps the 32-bit RTP clock
	t.prevTS = ts
	ms := max(t.baseMS+t.elapsed*1000/int64(t.info.ClockRate), t.lastMS)
	t.lastMS = ms
	if err := p.mux.write(t, key, ms, data); err != nil {
		p.fail(err)
		return
	}
	if key && t.video {
		t.lastKeyMS = ms
	}
	p.lastMS = max(p.lastMS, ms)
	p.progress.Store(p.lastMS)
	p.metrics.FramesRecorded.Inc()
}

// keepKeyframesComing asks the encoder for a keyframe when the part has gone most of
// keyframeEvery without one, and again each half second until one comes: the answer
// takes a round trip and a frame.
func (p *part) keepKeyframesComing(t *track, at time.Time) {
	const lead = 500 * time.Millisecond
	if time.Duration(t.lastMS-t.lastKeyMS)*time.Millisecond < keyframeEvery-lead {
		return
	}
	if at.Sub(p.asked) >= lead {
		p.asked = at
		p.askKey()
	}
}

// webmMuxer writes a part as WebM through ebml-go's block writer.
type webmMuxer struct {
	file   *counted
	log    *slog.Logger
	blocks []webm.BlockWriteCloser
	// failed is set by ebml-go's writer when it gives up: it reads no more blocks then,
	// and a block handed to it would wait forever.
	failed atomic.Bool
}

// begin writes the header once the first keyframe says the picture's size.
func (m *webmMuxer) begin(tracks []*track, key []byte) error {
	width, height := 0, 0
	if len(key) >= 10 && key[3] == 0x9d && key[4] == 0x01 && key[5] == 0x2a { // RFC 6386 9.1
		width, height = int(binary.LittleEndian.Uint16(key[6:8])&0x3fff), int(binary.LittleEndian.Uint16(key[8:10])&0x3fff)
	}
	var entries []webm.TrackEntry
	videoNumber := uint64(1)
	for _, t := range tracks {
		e := webm.TrackEntry{TrackNumber: t.number, TrackUID: t.number}
		if t.video {
			videoNumber = t.number
			e.Name, e.CodecID, e.TrackType = "Video", "V_VP8", 1
			e.Video = &webm.Video{PixelWidth: uint64(width), PixelHeight: uint64(height)}
		} else {
			channels := int(max(t.info.Channels, 1))
			e.Name, e.CodecID, e.TrackType = "Audio", "A_OPUS", 2
			e.CodecPrivate = opusHead(channels)
			e.Audio = &webm.Audio{SamplingFrequency: 48000, Channels: uint64(channels)}
		}
		entries = append(entries, e)
	}
	ws, err := webm.NewSimpleBlockWriter(m.file, entries,
		// This part's own Info: ebml-go's default is shared, and the Cues option
		// writes the duration into it.
		mkvcore.WithSegmentInfo(&webm.Info{TimecodeScale: 1_000_000, MuxingApp: "livegate", WritingApp: "livegate"}),
		mkvcore.WithBlockInterceptor(mkvcore.MustBlockInterceptor(mkvcore.NewMultiTrackBlockSorter(
			mkvcore.WithMaxDelayedPackets(64), mkvcore.WithSortRule(mkvcore.BlockSorterDropOutdated)))),
		mkvcore.WithSeekHead(true),
		mkvcore.WithCues(cuesReserve),
		// A cluster starts on each keyframe and at least every clusterMaxMS: what a seek
		// lands on.
		mkvcore.WithMinMaxClusterDuration(videoNumber, 0, clusterMaxMS),
		mkvcore.WithOnFatalHandler(func(err error) { m.failed.Store(true); m.log.Error("recording: write failed", "err", err) }),
		mkvcore.WithOnErrorHandler(func(err error) { m.log.Debug("recording: block dropped", "err", err) }),
	)
	if err != nil {
		return err
	}
	m.blocks = ws
	return nil
}

func (m *webmMuxer) write(t *track, key bool, ms int64, data []byte) error {
	if m.failed.Load() {
		return errors.New("recording: the WebM writer failed")
	}
	_, err := m.blocks[t.number-1].Write(key, ms, data)
	return err
}

// close closes the block writers, the last of which closes the file once ebml-go has
// written the seek index and the duration.
func (m *webmMuxer) close() error {
	if m.blocks == nil {
		return m.file.Close()
	}
	for _, b := range m.blocks {
		_ = b.Close()
	}
	return m.file.closeErr
}

func (p *part) fail(err error) {
	if p.fatal == nil {
		p.fatal = err
	}
	p.failOnce.Do(func() {
		p.log.Error("recording: part abandoned", "err", err)
		close(p.failed)
	})
}

// finish writes what is left and closes the file, completing the container.
func (p *part) finish() {
	for _, t := range p.tracks {
		p.drain(t, true) // what the sample builders hold, the very first keyframe maybe
	}
	if err := p.mux.close(); err != nil && p.fatal == nil {
		p.fail(err)
	}
}

// Stop ends the part and waits until its file is complete.
func (p *part) Stop() {
	p.mu.Lock()
	if !p.stopped {
		p.stopped = true
		close(p.stop)
	}
	p.mu.Unlock()
	<-p.done
}

// opusHead is the Opus identification header Matroska's A_OPUS carries as CodecPrivate
// (RFC 7845 5.1): version 1, the channels, a pre-skip of 312 samples, 48 kHz, no gain.
func opusHead(channels int) []byte {
	b := append([]byte("OpusHead"), 1, byte(channels))
	b = binary.LittleEndian.AppendUint16(b, 312)
	b = binary.LittleEndian.AppendUint32(b, 48000)
	b = binary.LittleEndian.AppendUint16(b, 0)
	return append(b, 0)
}

// counted counts what is written to a part's file, and keeps what closing it said: the
// muxer closes it and drops the error (an upload that failed, for a bucket).
type counted struct {
	File
	n        atomic.Int64
	metrics  *Metrics
	closeErr error
}

func (c *counted) Close() error {
	c.closeErr = c.File.Close()
	return c.closeErr
}

func (c *counted) Write(b []byte) (int, error) {
	n, err := c.File.Write(b)
	c.n.Add(int64(n))
	c.metrics.BytesRecorded.Add(float64(n))
	return n, err
}

// seqAfter says whether RTP sequence number a comes after b (with wraparound).
func seqAfter(a, b uint16) bool { return a != b && a-b < 1<<15 }
