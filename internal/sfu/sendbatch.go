package sfu

// Batched sends: a packet fanned out to N viewers is N datagrams on the node's one UDP
// port, and one system call each is most of what forwarding costs. While a fan-out runs
// (fanOut.begin ... end), what is written to the port is copied into the socket's batch
// and leaves in as few sendmmsg calls as the kernel allows when the fan-out ends (or the
// batch is full). Writes outside a fan-out (the pacer's drain, RTCP, DTLS, STUN) go
// straight out, unless a fan-out is running at that moment, which then sends them
// microseconds later.

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// batchSlots is how many datagrams a socket's batch holds before it is sent.
const batchSlots = 64

// batchSlotSize is a slot's room: an SRTP packet of a full-size RTP packet fits.
const batchSlotSize = 1600

// fanOuts counts the fan-outs running on a node, and knows its sockets to flush.
type fanOuts struct {
	open  atomic.Int32
	mu    sync.Mutex                     // serializes add
	conns atomic.Pointer[[]*guardedConn] // copy-on-write: read lock-free at each fan-out's end
}

func (f *fanOuts) add(c *guardedConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var next []*guardedConn
	if cur := f.conns.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, c)
	f.conns.Store(&next)
}

// begin opens a fan-out: writes from now on are batched.
func (f *fanOuts) begin() { f.open.Add(1) }

// end closes a fan-out and sends what the sockets hold. Each end flushes, whatever other
// fan-outs still run, so that a busy node never holds a packet longer than one fan-out.
// It runs once per incoming packet: no lock unless a socket holds something.
func (f *fanOuts) end() {
	f.open.Add(-1)
	if conns := f.conns.Load(); conns != nil {
		for _, c := range *conns {
			if c.pending.Load() > 0 {
				c.flush()
			}
		}
	}
}

// batch is a socket's datagrams waiting to be sent, in preallocated slots.
type batch struct {
	msgs  []ipv4.Message // ipv6.Message is the same type
	bufs  [batchSlots][batchSlotSize]byte
	addrs [batchSlots]net.UDPAddr
	ips   [batchSlots][16]byte
	n     int
	send  func([]ipv4.Message) (int, error)
}

func newBatch(conn *net.UDPConn) *batch {
	b := &batch{msgs: make([]ipv4.Message, batchSlots)}
	for i := range b.msgs {
		b.msgs[i].Buffers = [][]byte{nil}
	}
	local, _ := conn.LocalAddr().(*net.UDPAddr)
	if local != nil && local.IP.To4() == nil {
		pc := ipv6.NewPacketConn(conn)
		b.send = func(ms []ipv4.Message) (int, error) { return pc.WriteBatch(ms, 0) }
	} else {
		pc := ipv4.NewPacketConn(conn)
		b.send = func(ms []ipv4.Message) (int, error) { return pc.WriteBatch(ms, 0) }
	}
	return b
}

// add copies a datagram into the next slot; false when it does not fit one (too big:
// the caller sends it alone).
func (b *batch) add(p []byte, to netip.AddrPort) bool {
	if len(p) > batchSlotSize {
		return false
	}
	i := b.n
	n := copy(b.bufs[i][:], p)
	ip := to.Addr().Unmap()
	ipBytes := ip.As16()
	b.ips[i] = ipBytes
	if ip.Is4() {
		b.addrs[i].IP = b.ips[i][12:16]
	} else {
		b.addrs[i].IP = b.ips[i][:]
	}
	b.addrs[i].Port, b.addrs[i].Zone = int(to.Port()), ip.Zone()
	b.msgs[i].Buffers[0] = b.bufs[i][:n]
	b.msgs[i].Addr = &b.addrs[i]
	b.n++
	return true
}

// flush sends the batch; a datagram the kernel refuses is lost, as on the wire.
func (b *batch) flush() {
	for sent := 0; sent < b.n; {
		n, err := b.send(b.msgs[sent:b.n])
		if err != nil || n <= 0 {
			n = max(n, 1) // skip the one refused (and never spin on a call that sent nothing)
		}
		sent += n
	}
	b.n = 0
}
