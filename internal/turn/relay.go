package turn

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	pionturn "github.com/pion/turn/v5"
)

// errNoTCPRelay refuses RFC 6062 TCP allocations: media to the node is UDP, and a TCP
// relay would let a client open connections to the node's other ports.
var errNoTCPRelay = errors.New("turn: TCP relays are not offered")

// relayGenerator makes every allocation's relay socket: on the media socket's address,
// able to reach that socket and nothing else.
type relayGenerator struct{ s *Server }

var _ pionturn.RelayAddressGenerator = (*relayGenerator)(nil)

func (g *relayGenerator) Validate() error { return nil }

func (g *relayGenerator) AllocatePacketConn(c pionturn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	cfg := g.s.cfg
	ip := cfg.Media.Addr()
	network := "udp4"
	if ip.Is6() {
		network = "udp6"
	}
	if c.Network != "" && c.Network != network {
		return nil, nil, errors.New("turn: relay address family not offered")
	}
	if !g.s.reserve(c.UserID) {
		return nil, nil, errors.New("turn: allocation quota reached")
	}
	pc, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		g.s.release(c.UserID)
		return nil, nil, err
	}
	relay := *pc.LocalAddr().(*net.UDPAddr)
	r := &nodeOnlyConn{UDPConn: pc, s: g.s, user: c.UserID, port: uint16(relay.Port), media: net.UDPAddrFromAddrPort(cfg.Media)} //nolint:gosec // G115: a port
	g.s.portOpened(r.port, 1)
	relay.IP = ip.AsSlice()
	return r, &relay, nil
}

func (g *relayGenerator) AllocateListener(pionturn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errNoTCPRelay
}

func (g *relayGenerator) AllocateConn(pionturn.AllocateConnConfig) (net.Conn, error) {
	return nil, errNoTCPRelay
}

// nodeOnlyConn is a relay socket that sends only to the node's media socket, whichever
// of the node's addresses the client named it by, and takes datagrams only from it,
// reported as coming from the address the client named (the client's permission is for
// that one). The permission handler already refuses other peers; this holds even if a
// permission slipped through, so the relay can never reach another port of the node
// (a DNS resolver, a metrics daemon) or anything beyond it.
type nodeOnlyConn struct {
	*net.UDPConn
	s     *Server
	user  string
	port  uint16
	media *net.UDPAddr

	peer      atomic.Pointer[net.UDPAddr] // the node as the client names it
	closeOnce sync.Once
}

func (c *nodeOnlyConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || ua.Port != c.media.Port {
		c.s.metrics.dropped.Inc()
		return len(p), nil // dropped, as a network would: the client learns nothing
	}
	ip, ok := netip.AddrFromSlice(ua.IP)
	if !ok || !c.s.isNode(ip.Unmap()) {
		c.s.metrics.dropped.Inc()
		return len(p), nil
	}
	if prev := c.peer.Load(); prev == nil || !prev.IP.Equal(ua.IP) || prev.Port != ua.Port {
		named := *ua
		c.peer.Store(&named)
	}
	return c.UDPConn.WriteTo(p, c.media)
}

func (c *nodeOnlyConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.UDPConn.ReadFromUDPAddrPort(p)
		if err != nil {
			return n, nil, err
		}
		peer := c.peer.Load()
		if peer == nil || from.Port() != c.media.AddrPort().Port() || from.Addr().Unmap() != c.media.AddrPort().Addr().Unmap() {
			c.s.metrics.dropped.Inc()
			continue
		}
		return n, peer, nil
	}
}

func (c *nodeOnlyConn) Close() error {
	err := c.UDPConn.Close()
	c.closeOnce.Do(func() { c.s.portOpened(c.port, -1); c.s.release(c.user) })
	return err
}
