package sfu

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// A viewer names the addresses the node sends ICE connectivity checks to: its offer's
// candidates and its trickled ones. Named freely, they make the node a reflector, a few
// hundred STUN packets a minute at any host on the internet per anonymous session. The
// guard bounds what goes to an address the node has never heard from: STUN requests to
// an IP address that sent nothing recently take from a token bucket of that address,
// shared by every session and client, so all of them together can make the node send
// at most stunBurst packets to a third party at once and one per stunRefill after. A
// real peer answers (its own checks reach the node within a round trip), and from then
// on its address is heard from and not counted. A check dropped here is retransmitted
// by ICE like a lost one.

const (
	stunBurst  = 24               // requests to an unheard address at once
	stunRefill = 10 * time.Second // one more per this
	// heardFor is how long a packet from an address makes it a peer.
	heardFor = 2 * time.Minute
	// guardPrune is how often the guard forgets old addresses; maxUnheard bounds how
	// many unheard addresses it keeps buckets for (older full ones go first).
	guardPrune = 30 * time.Second
	maxUnheard = 1 << 16
)

// stunGuard decides, per packet, whether a STUN request may go to an address.
type stunGuard struct {
	// heard is when each address last sent a packet (unix nanos). received runs for every
	// packet the node receives: a read lock and a map lookup, no allocation (a sync.Map
	// would box each netip.Addr key).
	heardMu sync.RWMutex
	heard   map[netip.Addr]*atomic.Int64

	mu        sync.Mutex
	buckets   map[netip.Addr]*stunBucket
	lastPrune time.Time
	dropped   func() // counts a request held back
	now       func() time.Time

	// relay is the node's own TURN relay address where ICE accepts it only because it is
	// the node's (a private or loopback address in production): checks go there only to
	// the ports of live relay sockets, never to another service on that address.
	relay atomic.Pointer[relayAddr]
}

type relayAddr struct {
	ip   netip.Addr
	open func(port uint16) bool
}

type stunBucket struct {
	tokens float64
	at     time.Time
}

func newSTUNGuard(dropped func()) *stunGuard {
	if dropped == nil {
		dropped = func() {}
	}
	return &stunGuard{heard: map[netip.Addr]*atomic.Int64{}, buckets: map[netip.Addr]*stunBucket{}, dropped: dropped, now: time.Now}
}

// received notes a packet from addr: the address is a peer. It runs for every packet the
// node receives, so it writes only when the last note is a second old.
func (g *stunGuard) received(addr netip.AddrPort) {
	a := addr.Addr().Unmap()
	now := g.now().UnixNano()
	g.heardMu.RLock()
	last := g.heard[a]
	g.heardMu.RUnlock()
	if last != nil {
		if now-last.Load() > int64(time.Second) {
			last.Store(now)
		}
		return
	}
	last = &atomic.Int64{}
	last.Store(now)
	g.heardMu.Lock()
	g.heard[a] = last
	g.heardMu.Unlock()
}

// lastHeard is when a last sent a packet, in unix nanos (0: never, or long ago).
func (g *stunGuard) lastHeard(a netip.Addr) int64 {
	g.heardMu.RLock()
	defer g.heardMu.RUnlock()
	if last := g.heard[a]; last != nil {
		return last.Load()
	}
	return 0
}

// allow says whether packet b may be sent to addr.
func (g *stunGuard) allow(b []byte, addr netip.AddrPort) bool {
	if !isSTUNRequest(b) {
		return true // media and DTLS go only where ICE succeeded; responses answer a request
	}
	a := addr.Addr().Unmap()
	if r := g.relay.Load(); r != nil && a == r.ip && !r.open(addr.Port()) {
		g.dropped()
		return false
	}
	now := g.now()
	if now.UnixNano()-g.lastHeard(a) < int64(heardFor) {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Sub(g.lastPrune) > guardPrune {
		g.prune(now)
	}
	bk := g.buckets[a]
	if bk == nil {
		if len(g.buckets) >= maxUnheard {
			g.dropped()
			return false
		}
		bk = &stunBucket{tokens: stunBurst, at: now}
		g.buckets[a] = bk
	}
	bk.tokens = min(stunBurst, bk.tokens+now.Sub(bk.at).Seconds()/stunRefill.Seconds())
	bk.at = now
	if bk.tokens < 1 {
		g.dropped()
		return false
	}
	bk.tokens--
	return true
}

// prune forgets addresses heard from long ago and buckets that have refilled (they hold
// nothing a new one would not); callers hold mu.
func (g *stunGuard) prune(now time.Time) {
	g.lastPrune = now
	g.heardMu.Lock()
	for a, last := range g.heard {
		if now.UnixNano()-last.Load() > int64(heardFor) {
			delete(g.heard, a)
		}
	}
	g.heardMu.Unlock()
	for a, bk := range g.buckets {
		if bk.tokens+now.Sub(bk.at).Seconds()/stunRefill.Seconds() >= stunBurst {
			delete(g.buckets, a)
		}
	}
}

// isSTUNRequest says whether b is a STUN request (RFC 5389 6: the class bits of the
// message type clear, the magic cookie in place): a binding request, which is what ICE
// sends to a candidate.
func isSTUNRequest(b []byte) bool {
	return len(b) >= 20 && b[0]&0xC0 == 0 && b[0]&0x01 == 0 && b[1]&0x10 == 0 &&
		binary.BigEndian.Uint32(b[4:8]) == 0x2112A442
}

// guardedConn is the mux's UDP socket with the guard on both directions; it keeps the
// allocation-free netip reads and writes pion's mux uses.
type guardedConn struct {
	*net.UDPConn
	guard *stunGuard

	// The fan-outs' batch (nil: every write is a system call of its own).
	fanOuts *fanOuts
	mu      sync.Mutex
	batch   *batch
	pending atomic.Int32 // datagrams in batch: written under mu, read without it
}

// flush sends the datagrams the socket's batch holds.
func (c *guardedConn) flush() {
	if c.batch == nil {
		return
	}
	c.mu.Lock()
	if c.batch.n > 0 {
		c.batch.flush()
		c.pending.Store(0)
	}
	c.mu.Unlock()
}

func (c *guardedConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, addr, err := c.UDPConn.ReadFromUDPAddrPort(b)
	if err == nil {
		c.guard.received(addr)
	}
	return n, addr, err
}

func (c *guardedConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if !c.guard.allow(b, addr) {
		return len(b), nil // as if lost on the way: ICE retransmits
	}
	if c.batch != nil && (c.fanOuts.open.Load() > 0 || c.pending.Load() > 0) {
		// Behind what waits, never ahead of it: a stream's packets leave in the order
		// they were written, whichever goroutine wrote them.
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.batch.add(b, addr) {
			if c.batch.n == batchSlots || c.fanOuts.open.Load() == 0 {
				c.batch.flush()
			}
			c.pending.Store(int32(c.batch.n))
			return len(b), nil
		}
		c.batch.flush() // too big for a slot: what waits goes first
		c.pending.Store(0)
	}
	return c.UDPConn.WriteToUDPAddrPort(b, addr)
}

func (c *guardedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

func (c *guardedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.UDPConn.WriteTo(b, addr)
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}
