package recording

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
)

// isMP4 says whether a part's first bytes are an MP4's (a box of type ftyp).
func isMP4(head []byte) bool { return len(head) >= 8 && string(head[4:8]) == "ftyp" }

// boxHeader reads the MP4 box header at off: its type and its whole size (0: to the end).
func boxHeader(r io.ReaderAt, off int64) (typ string, size int64, header int64, err error) {
	var b [16]byte
	n, err := r.ReadAt(b[:], off)
	if n < 8 {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return "", 0, 0, err
	}
	size, header = int64(binary.BigEndian.Uint32(b[:4])), 8
	if size == 1 {
		if n < 16 {
			return "", 0, 0, io.ErrUnexpectedEOF
		}
		size, header = int64(binary.BigEndian.Uint64(b[8:16])), 16
	}
	return string(b[4:8]), size, header, nil
}

// completeBoxes is how many of a part's first bytes are whole top-level boxes: what a
// crash left that parses.
func completeBoxes(r io.ReaderAt, size int64) int64 {
	off := int64(0)
	for off < size {
		_, n, _, err := boxHeader(r, off)
		if err != nil || n < 8 || off+n > size {
			return off
		}
		off += n
	}
	return off
}

func probeMP4(b []byte) (Summary, error) {
	s := Summary{Blocks: map[string]int{}, Bytes: map[string]int64{}}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(b)); err != nil {
		return s, fmt.Errorf("probe recording: %w", err)
	}
	names, scales := map[int]string{}, map[int]int64{}
	for _, t := range init.Tracks {
		name := fmt.Sprintf("%T", t.Codec)
		switch c := t.Codec.(type) {
		case *mp4.CodecH264:
			name = "V_MPEG4/ISO/AVC" // Matroska's names, as for WebM parts
			var sps h264.SPS
			if sps.Unmarshal(c.SPS) == nil {
				s.Width, s.Height = sps.Width(), sps.Height()
			}
		case *mp4.CodecOpus:
			name = "A_OPUS"
		}
		names[t.ID], scales[t.ID] = name, int64(t.TimeScale)
		s.Codecs = append(s.Codecs, name)
	}
	whole := completeBoxes(bytes.NewReader(b), int64(len(b)))
	s.Truncated = whole < int64(len(b))
	var parts fmp4.Parts
	if err := parts.Unmarshal(b[:whole]); err != nil {
		return s, fmt.Errorf("probe recording: %w", err)
	}
	for _, p := range parts {
		for _, pt := range p.Tracks {
			end := pt.BaseTime
			for _, smp := range pt.Samples {
				if scale := scales[pt.ID]; scale > 0 && strings.HasPrefix(names[pt.ID], "V_") && !smp.IsNonSyncSample {
					s.KeyframesMS = append(s.KeyframesMS, int64(end)*1000/scale)
				}
				s.Blocks[names[pt.ID]]++
				s.Bytes[names[pt.ID]] += int64(len(smp.Payload))
				end += uint64(smp.Duration)
			}
			if scale := scales[pt.ID]; scale > 0 {
				s.DurationMS = max(s.DurationMS, int64(end)*1000/scale)
			}
		}
	}
	return s, nil
}

// previewSlackMS is how far past its preview time a preview may play: the end of the
// fragment that holds the preview's last moment, when that fragment ends soon enough.
const previewSlackMS = 1000

// cutMP4 is CutAfter for a fragmented MP4: its whole fragments that start by ms and end by
// ms plus previewSlackMS. Fragments are at most a second long as livegate writes them
// now, so that is the preview to within a second; an older part's longer fragments give
// a shorter preview rather than a longer one.
func cutMP4(r io.ReaderAt, size, ms int64) (int64, error) {
	off := int64(0)
	for off < size {
		typ, n, _, err := boxHeader(r, off)
		if err != nil || n < 8 || off+n > size {
			return off, nil // a part cut short: its whole boxes
		}
		if typ != "moof" {
			off += n
			continue
		}
		_, mdat, _, err := boxHeader(r, off+n)
		if err != nil || mdat < 8 || off+n+mdat > size || n+mdat > 256<<20 {
			return off, nil
		}
		frag := make([]byte, n+mdat)
		if _, err := r.ReadAt(frag, off); err != nil {
			return off, nil
		}
		from, to, ok := fragmentSpan(frag)
		if !ok || from > ms || to > ms+previewSlackMS {
			return off, nil
		}
		off += n + mdat
	}
	return size, nil
}

// fragmentSpan is when a fragment (moof and mdat) starts and ends, in milliseconds, over
// all its tracks: track 1 is video (90 kHz), the others Opus (48 kHz), as mp4Muxer
// writes them.
func fragmentSpan(frag []byte) (from, to int64, ok bool) {
	var parts fmp4.Parts
	if err := parts.Unmarshal(frag); err != nil || len(parts) == 0 {
		return 0, 0, false
	}
	from = -1
	for _, p := range parts {
		for _, pt := range p.Tracks {
			scale := uint64(audioTimescale)
			if pt.ID == 1 {
				scale = videoTimescale
			}
			end := pt.BaseTime
			for _, smp := range pt.Samples {
				end += uint64(smp.Duration)
			}
			start := int64(pt.BaseTime * 1000 / scale)
			if from < 0 || start < from {
				from = start
			}
			to = max(to, int64((end*1000+scale-1)/scale))
		}
	}
	return from, to, from >= 0
}
