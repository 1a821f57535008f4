package recording

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A preview of a replay is the part's first seconds: its bytes up to the first block
// (frame) that starts after them. Clusters start on keyframes and at least every 2 s,
// but a part recorded before that, or from an encoder that ignored the recorder's
// keyframe requests, may hold one cluster for the whole show: the cut is made inside the
// cluster, at a block, so no frame past the preview is served whatever the keyframe
// interval. A WebM cluster of unknown size (as livegate writes them) ends where the bytes
// do, so a cut there is a well-formed file. The cut is found by reading element headers
// and each block's three-byte head only.

const (
	idSegment     = 0x18538067
	idCluster     = 0x1F43B675
	idTimecode    = 0xE7
	idSimpleBlock = 0xA3
	idBlockGroup  = 0xA0
	idBlock       = 0xA1
)

// segmentLevel are the IDs that follow a cluster of unknown size at the segment's level.
var segmentLevel = map[uint32]bool{idCluster: true, 0x1C53BB6B: true /* Cues */, 0x114D9B74: true, /* SeekHead */
	0x1549A966: true /* Info */, 0x1654AE6B: true /* Tracks */, 0x1254C367: true /* Tags */, 0x1941A469: true /* Attachments */, 0x1043A770: true /* Chapters */}

// CutAfter returns how many of a part's first bytes play its first ms milliseconds: up to
// the first frame starting after ms (WebM), or the last fragment ending by ms plus a
// second (MP4); or the whole part.
func CutAfter(r io.ReaderAt, size, ms int64) (int64, error) {
	var head [8]byte
	if n, _ := r.ReadAt(head[:], 0); isMP4(head[:n]) {
		return cutMP4(r, size, ms)
	}
	off := int64(0)
	for off < size { // the EBML header, then the segment
		id, n, dataSize, err := elementHeader(r, off)
		if err != nil {
			return 0, err
		}
		if id == idSegment {
			return cutInSegment(r, off+n, size, ms)
		}
		if dataSize < 0 {
			return 0, errors.New("cut recording: top-level element of unknown size")
		}
		off += n + dataSize
	}
	return size, nil
}

func cutInSegment(r io.ReaderAt, off, size, ms int64) (int64, error) {
	for off < size {
		id, n, dataSize, err := elementHeader(r, off)
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return size, nil // a part cut short by a crash
		}
		if err != nil {
			return 0, err
		}
		if id != idCluster {
			if dataSize < 0 {
				return 0, fmt.Errorf("cut recording: element %x of unknown size", id)
			}
			off += n + dataSize
			continue
		}
		start := off
		tc, err := clusterTimecode(r, off+n)
		if err != nil {
			return start, nil // a cluster that cannot be timed is not served to a preview
		}
		if tc > ms {
			return start, nil
		}
		end := size // unknown size: its children run until the next element of the segment's level
		if dataSize >= 0 {
			end = min(off+n+dataSize, size)
		}
		off += n
		for off < end {
			cid, cn, csize, err := elementHeader(r, off)
			if err == nil && dataSize < 0 && segmentLevel[cid] {
				break
			}
			if err != nil || csize < 0 {
				return off, nil
			}
			if rel, ok := blockTime(r, cid, off+cn, csize); ok && tc+rel > ms {
				return off, nil // the first frame past the preview
			}
			off += cn + csize
		}
	}
	return size, nil
}

// blockTime reads the time of a SimpleBlock or BlockGroup whose data starts at off,
// relative to its cluster's timecode.
func blockTime(r io.ReaderAt, id uint32, off, size int64) (int64, bool) {
	if id == idBlockGroup {
		for end := off + size; off < end; {
			cid, cn, csize, err := elementHeader(r, off)
			if err != nil || csize < 0 {
				return 0, false
			}
			if cid == idBlock {
				return blockTime(r, idSimpleBlock, off+cn, csize)
			}
			off += cn + csize
		}
		return 0, false
	}
	if id != idSimpleBlock {
		return 0, false
	}
	var b [10]byte // the track number (a vint of up to 8 bytes), then a signed 16-bit time
	got, _ := r.ReadAt(b[:min(int64(len(b)), size)], off)
	l := 0
	if got > 0 {
		l = vintLen(b[0])
	}
	if l == 0 || got < l+2 {
		return 0, false
	}
	return int64(int16(binary.BigEndian.Uint16(b[l : l+2]))), true
}

// clusterTimecode reads a cluster's Timecode, its first child as Matroska muxers write it.
func clusterTimecode(r io.ReaderAt, off int64) (int64, error) {
	id, n, size, err := elementHeader(r, off)
	if err != nil {
		return 0, err
	}
	if id != idTimecode || size < 1 || size > 8 {
		return 0, errors.New("cut recording: cluster without a leading timecode")
	}
	var b [8]byte
	if _, err := r.ReadAt(b[8-size:], off+n); err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(b[:])), nil
}

// elementHeader reads the EBML element header at off: its ID, the header's length and
// the data's size (-1: unknown).
func elementHeader(r io.ReaderAt, off int64) (id uint32, n int64, size int64, err error) {
	var b [12]byte
	got, err := r.ReadAt(b[:], off)
	if got == 0 {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, 0, err
	}
	buf := b[:got]
	idLen := vintLen(buf[0])
	if idLen == 0 || idLen > 4 || len(buf) < idLen+1 {
		return 0, 0, 0, io.ErrUnexpectedEOF
	}
	for _, c := range buf[:idLen] {
		id = id<<8 | uint32(c)
	}
	sizeLen := vintLen(buf[idLen])
	if sizeLen == 0 || len(buf) < idLen+sizeLen {
		return 0, 0, 0, io.ErrUnexpectedEOF
	}
	v := uint64(buf[idLen] & (0xFF >> sizeLen))
	allOnes := v == uint64(0xFF>>sizeLen)
	for _, c := range buf[idLen+1 : idLen+sizeLen] {
		v = v<<8 | uint64(c)
		allOnes = allOnes && c == 0xFF
	}
	size = int64(v)
	if allOnes {
		size = -1
	}
	return id, int64(idLen + sizeLen), size, nil
}

// vintLen is the length of the EBML variable-size integer starting with b (0: invalid).
func vintLen(b byte) int {
	for i := 0; i < 8; i++ {
		if b&(0x80>>i) != 0 {
			return i + 1
		}
	}
	return 0
}
