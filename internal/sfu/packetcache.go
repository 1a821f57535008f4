package sfu

import "sync"

// maxPacket is the largest RTP packet relayed; larger ones are dropped.
const maxPacket = 1500

// packetCache keeps the last packets of one publisher track so that every viewer's NACK
// is answered from one shared copy instead of a buffer per viewer.
type packetCache struct {
	mu    sync.RWMutex
	mask  uint16
	slots []cacheSlot
}

type cacheSlot struct {
	seq   uint16
	n     int   // 0: empty
	at    int64 // when it arrived, unix nanoseconds
	bytes [maxPacket]byte
}

// newPacketCache returns a cache of size packets; size is a power of two up to 32768
// (sfu.New checks it).
func newPacketCache(size int) *packetCache {
	return &packetCache{mask: uint16(size - 1), slots: make([]cacheSlot, size)}
}

// reset forgets every packet: the track's sequence numbers start over.
func (c *packetCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.slots {
		c.slots[i].n = 0
	}
}

// put stores a copy of pkt, arrived at (unix nanoseconds), under its sequence number.
func (c *packetCache) put(seq uint16, pkt []byte, at int64) {
	if len(pkt) > maxPacket {
		return
	}
	c.mu.Lock()
	s := &c.slots[seq&c.mask]
	s.seq, s.at = seq, at
	s.n = copy(s.bytes[:], pkt)
	c.mu.Unlock()
}

// get copies the packet with sequence number seq into dst and returns its length, or 0
// when it is no longer (or never was) in the cache.
func (c *packetCache) get(seq uint16, dst []byte) int {
	n, _ := c.getAt(seq, dst)
	return n
}

// getAt is get, and when the packet arrived.
func (c *packetCache) getAt(seq uint16, dst []byte) (n int, at int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := &c.slots[seq&c.mask]
	if s.n == 0 || s.seq != seq {
		return 0, 0
	}
	return copy(dst, s.bytes[:s.n]), s.at
}
