package recording

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"
)

// Summary is what a part holds, read back from its bytes.
type Summary struct {
	Codecs     []string         // the tracks' codec ids, in track order: V_VP8, A_OPUS
	Blocks     map[string]int   // blocks (frames) per codec id
	Bytes      map[string]int64 // the frames' bytes per codec id
	Width      int
	Height     int
	DurationMS int64 // the last block's time
	// KeyframesMS are the times of the video keyframes, in order.
	KeyframesMS []int64
	// Indexed says the part was finalized: it has a duration and a seek index.
	Indexed bool
	// Truncated says the bytes end inside an element: a part cut short by a crash, read
	// up to its last whole element.
	Truncated bool
}

// Probe reads a part's structure: its tracks, how many frames each has, and how long it
// plays. A part cut short by a crash reads up to where it stops.
func Probe(r io.Reader) (Summary, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return Summary{}, fmt.Errorf("probe recording: %w", err)
	}
	if isMP4(b) {
		return probeMP4(b)
	}
	return probeWebM(bytes.NewReader(b))
}

func probeWebM(r io.Reader) (Summary, error) {
	var doc struct {
		Header  webm.EBMLHeader `ebml:"EBML"`
		Segment webm.Segment    `ebml:"Segment"`
	}
	err := ebml.Unmarshal(r, &doc)
	s := Summary{Blocks: map[string]int{}, Bytes: map[string]int64{}}
	if err != nil {
		if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return s, fmt.Errorf("probe recording: %w", err)
		}
		s.Truncated = true
	}
	if doc.Header.DocType != "webm" {
		return s, fmt.Errorf("probe recording: not WebM (doc type %q)", doc.Header.DocType)
	}
	byNumber := map[uint64]string{}
	for _, t := range doc.Segment.Tracks.TrackEntry {
		s.Codecs = append(s.Codecs, t.CodecID)
		byNumber[t.TrackNumber] = t.CodecID
		if t.Video != nil {
			s.Width, s.Height = int(t.Video.PixelWidth), int(t.Video.PixelHeight)
		}
	}
	for _, c := range doc.Segment.Cluster {
		for _, b := range c.SimpleBlock {
			s.Blocks[byNumber[b.TrackNumber]]++
			for _, d := range b.Data {
				s.Bytes[byNumber[b.TrackNumber]] += int64(len(d))
			}
			at := int64(c.Timecode) + int64(b.Timecode)
			s.DurationMS = max(s.DurationMS, at)
			if b.Keyframe && strings.HasPrefix(byNumber[b.TrackNumber], "V_") {
				s.KeyframesMS = append(s.KeyframesMS, at)
			}
		}
	}
	s.Indexed = doc.Segment.Info.Duration > 1 && doc.Segment.Cues != nil && len(doc.Segment.Cues.CuePoint) > 0
	return s, nil
}
