package recording

import (
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
)

// H.264 (OBS's codec, which no browser plays from WebM) is written as fragmented MP4 with
// mediacommon's muxer (the one MediaMTX records with): an initialization segment (ftyp,
// moov) once the first keyframe brings its parameter sets, then a fragment (moof, mdat)
// per group of pictures or second of media, whichever is shorter, each written whole. A
// crash loses at most the fragment being written; what is in the file plays.

const (
	videoTimescale = 90000
	audioTimescale = 48000
	maxFragmentMS  = 1000 // a preview's cut is made on whole fragments
)

// errNoParameterSets means a keyframe came without the SPS and PPS an MP4 needs first.
var errNoParameterSets = errors.New("recording: H.264 keyframe without SPS and PPS")

type mp4Sample struct {
	ms   int64
	key  bool
	data []byte // AVCC (length-prefixed NAL units) for video, the Opus packet for audio
}

type mp4Track struct {
	id        int
	timescale int64
	video     bool
	samples   []mp4Sample // of the fragment being gathered; the last one waits for its duration
	lastDur   uint32
}

// mp4Muxer writes one part as fragmented MP4.
type mp4Muxer struct {
	out     File
	tracks  []*mp4Track
	seq     uint32
	buf     seekablebuffer.Buffer
	started bool
}

// begin writes the initialization segment from the first keyframe's parameter sets.
func (m *mp4Muxer) begin(tracks []*track, key []byte) error {
	au, err := annexB(key)
	if err != nil {
		return err
	}
	var sps, pps []byte
	for _, n := range au {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		}
	}
	if sps == nil || pps == nil {
		return errNoParameterSets
	}
	init := fmp4.Init{}
	for _, t := range tracks {
		mt := &mp4Track{id: int(t.number), video: t.video}
		it := &fmp4.InitTrack{ID: mt.id}
		if t.video {
			mt.timescale, it.TimeScale, it.Codec = videoTimescale, videoTimescale, &mp4.CodecH264{SPS: sps, PPS: pps}
		} else {
			mt.timescale, it.TimeScale, it.Codec = audioTimescale, audioTimescale, &mp4.CodecOpus{ChannelCount: int(max(t.info.Channels, 1))}
		}
		m.tracks = append(m.tracks, mt)
		init.Tracks = append(init.Tracks, it)
	}
	m.buf.Reset()
	if err := init.Marshal(&m.buf); err != nil {
		return fmt.Errorf("mp4 init: %w", err)
	}
	if _, err := m.out.Write(m.buf.Bytes()); err != nil {
		return err
	}
	m.started = true
	return nil
}

// write adds a frame; a video keyframe first writes the fragment gathered so far.
func (m *mp4Muxer) write(t *track, key bool, ms int64, data []byte) error {
	mt := m.tracks[t.number-1]
	if mt.video {
		au, err := annexB(data)
		if err != nil {
			return nil // a frame that does not parse is dropped
		}
		var keep [][]byte
		for _, n := range au {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeAccessUnitDelimiter:
			default:
				keep = append(keep, n)
			}
		}
		var s fmp4.Sample
		if err := s.FillH264(0, keep); err != nil {
			return nil
		}
		data = s.Payload
		// A fragment per group of pictures, and one at least every few seconds when the
		// encoder sends keyframes rarely (a browser's only on request).
		if len(mt.samples) > 0 && (key || ms-mt.samples[0].ms >= maxFragmentMS) {
			// This frame's time ends the last one's: the fragment takes every video frame
			// so far, and the next starts on this one (a keyframe: a random access point).
			if err := m.flush(false, ms); err != nil {
				return err
			}
		}
	}
	mt.samples = append(mt.samples, mp4Sample{ms: ms, key: key, data: data})
	return nil
}

// flush writes a fragment of every sample whose duration is known (all of them at the
// end); each track keeps its newest sample otherwise, its duration still unknown, unless
// videoEnd (>= 0) says when the newest video frame ends.
func (m *mp4Muxer) flush(last bool, videoEnd int64) error {
	part := fmp4.Part{SequenceNumber: m.seq + 1}
	for _, mt := range m.tracks {
		n := len(mt.samples)
		if !last && !(mt.video && videoEnd >= 0) {
			n-- // the newest waits for the next one's time
		}
		if n <= 0 {
			continue
		}
		pt := &fmp4.PartTrack{ID: mt.id, BaseTime: uint64(mt.samples[0].ms * mt.timescale / 1000)}
		for i := 0; i < n; i++ {
			s := mt.samples[i]
			dur := mt.lastDur
			switch {
			case i+1 < len(mt.samples):
				dur = uint32((mt.samples[i+1].ms - s.ms) * mt.timescale / 1000)
			case mt.video && videoEnd > s.ms:
				dur = uint32((videoEnd - s.ms) * mt.timescale / 1000)
			}
			if dur == 0 {
				dur = uint32(mt.timescale / 50) // 20 ms: a frame of its own
			}
			mt.lastDur = dur
			pt.Samples = append(pt.Samples, &fmp4.Sample{Duration: dur, IsNonSyncSample: mt.video && !s.key, Payload: s.data})
		}
		mt.samples = append(mt.samples[:0], mt.samples[n:]...)
		part.Tracks = append(part.Tracks, pt)
	}
	if len(part.Tracks) == 0 {
		return nil
	}
	m.seq++
	m.buf.Reset()
	if err := part.Marshal(&m.buf); err != nil {
		return fmt.Errorf("mp4 fragment: %w", err)
	}
	_, err := m.out.Write(m.buf.Bytes()) // one write: a fragment is in the file whole or not at all
	return err
}

func (m *mp4Muxer) close() error {
	var err error
	if m.started {
		err = m.flush(true, -1)
	}
	if cerr := m.out.Close(); err == nil {
		err = cerr
	}
	return err
}

// annexB splits an Annex B access unit (what pion's H.264 depacketizer gives) into NAL units.
func annexB(b []byte) (h264.AnnexB, error) {
	var au h264.AnnexB
	if err := au.Unmarshal(b); err != nil {
		return nil, err
	}
	return au, nil
}
