package recording

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
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
		case *fmp4.CodecH264:
			name = "V_MPEG4/ISO/AVC" // Matroska's names, as for WebM parts
			var sps h264.SPS
			if sps.Unmarshal(c.SPS) == nil {
				s.Width, s.Height = sps.Width(), sps.Height()
			}
		case *fmp4.CodecOpus:
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

// cutMP4 is CutAfter for a fragmented MP4: up to the first fragment whose video starts
// after ms.
func cutMP4(r io.ReaderAt, size, ms int64) (int64, error) {
	off := int64(0)
	for off < size {
		typ, n, hdr, err := boxHeader(r, off)
		if err != nil || n < 8 {
			return off, nil // a part cut short: its whole boxes
		}
		if typ == "moof" && n < 1<<20 {
			moof := make([]byte, n-hdr)
			if _, err := r.ReadAt(moof, off+hdr); err != nil {
				return off, nil
			}
			if t, ok := videoStart(moof); ok && int64(t)*1000/videoTimescale > ms {
				return off, nil
			}
		}
		off += n
	}
	return size, nil
}

// videoStart reads a moof's video track (track 1) base media decode time (tfdt).
func videoStart(moof []byte) (uint64, bool) {
	for _, traf := range children(moof, "traf") {
		var track uint32
		var start uint64
		var found bool
		for _, tfhd := range children(traf, "tfhd") {
			if len(tfhd) >= 8 {
				track = binary.BigEndian.Uint32(tfhd[4:8])
			}
		}
		for _, tfdt := range children(traf, "tfdt") {
			switch {
			case len(tfdt) >= 12 && tfdt[0] == 1:
				start, found = binary.BigEndian.Uint64(tfdt[4:12]), true
			case len(tfdt) >= 8:
				start, found = uint64(binary.BigEndian.Uint32(tfdt[4:8])), true
			}
		}
		if track == 1 && found {
			return start, true
		}
	}
	return 0, false
}

// children returns the payloads of the boxes of type typ directly inside b.
func children(b []byte, typ string) [][]byte {
	var out [][]byte
	for len(b) >= 8 {
		n := int(binary.BigEndian.Uint32(b[:4]))
		if n < 8 || n > len(b) {
			break
		}
		if string(b[4:8]) == typ {
			out = append(out, b[8:n])
		}
		b = b[n:]
	}
	return out
}
