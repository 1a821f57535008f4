package sfu

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

func TestSTUNGuardBoundsChecksToAnUnheardAddress(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	held := 0
	g := newSTUNGuard(func() { held++ })
	g.now = func() time.Time { return now }
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := stun.Build(stun.TransactionID, stun.BindingSuccess)
	victim := netip.MustParseAddrPort("203.0.114.7:40000")
	sent := 0
	for port := uint16(40000); port < 40000+32; port++ {
		for range 8 { // 32 candidates, 8 checks each
			if g.allow(req.Raw, netip.AddrPortFrom(victim.Addr(), port)) {
				sent++
			}
		}
	}
	if sent != stunBurst || held != 32*8-stunBurst {
		t.Errorf("sent %d of 256 checks to an unheard host (%d held), want %d", sent, held, stunBurst)
	}
	if !g.allow(resp.Raw, victim) || !g.allow([]byte{0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, victim) {
		t.Error("a STUN response or an RTP packet was held back")
	}
	now = now.Add(stunRefill)
	if !g.allow(req.Raw, victim) || g.allow(req.Raw, victim) {
		t.Error("want one more check after a refill period, and only one")
	}
	// A peer that speaks is a peer: unbounded from then on, its other ports included.
	g.received(netip.AddrPortFrom(victim.Addr(), 5000))
	for range 100 {
		if !g.allow(req.Raw, victim) {
			t.Fatal("a check to an address heard from was held back")
		}
	}
	now = now.Add(stunBurst * stunRefill)                      // past heardFor, and every bucket refilled
	g.allow(req.Raw, netip.MustParseAddrPort("203.0.114.8:1")) // prunes
	if g.lastHeard(victim.Addr()) != 0 {
		t.Error("an address heard from long ago is still remembered")
	}
	if n := len(g.buckets); n != 1 {
		t.Errorf("%d buckets after the prune, want the new one only", n)
	}
	// IPv4-mapped IPv6 is the same address.
	g.received(netip.MustParseAddrPort("[::ffff:203.0.114.9]:1"))
	if g.lastHeard(netip.MustParseAddr("203.0.114.9")) == 0 {
		t.Error("a mapped address is kept apart from its IPv4 form")
	}
}

func TestIsSTUNRequest(t *testing.T) {
	req, _ := stun.Build(stun.TransactionID, stun.BindingRequest)
	ind, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodBinding, stun.ClassIndication))
	resp, _ := stun.Build(stun.TransactionID, stun.BindingSuccess)
	if !isSTUNRequest(req.Raw) || isSTUNRequest(ind.Raw) || isSTUNRequest(resp.Raw) || isSTUNRequest([]byte{22, 254, 253}) {
		t.Error("want binding requests only")
	}
}

// What the guard costs the node per packet it receives (every media packet in) and per
// packet it sends (a byte test, the map only for STUN requests): no allocation.
func BenchmarkSTUNGuard(b *testing.B) {
	g := newSTUNGuard(nil)
	peers := make([]netip.AddrPort, 64)
	for i := range peers {
		peers[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 114, byte(i)}), 40000)
		g.received(peers[i])
	}
	rtp := make([]byte, 1200)
	rtp[0] = 0x80
	b.Run("received", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			g.received(peers[i&63])
		}
	})
	b.Run("allow-media", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			g.allow(rtp, peers[i&63])
		}
	})
}

// The node's own relay address, accepted as a remote candidate only because it is the
// node's, gets checks on its live relay ports only, even while heard from (its relays
// speak all the time): a client cannot aim the node's checks at another service there.
func TestSTUNGuardKeepsChecksToTheRelayAddressOnRelayPorts(t *testing.T) {
	g := newSTUNGuard(nil)
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest)
	if err != nil {
		t.Fatal(err)
	}
	relay := netip.MustParseAddr("10.0.0.5")
	g.relay.Store(&relayAddr{ip: relay, open: func(port uint16) bool { return port == 50000 }})
	g.received(netip.AddrPortFrom(relay, 50000))
	if !g.allow(req.Raw, netip.AddrPortFrom(relay, 50000)) {
		t.Error("a check to a live relay socket was held back")
	}
	for _, port := range []uint16{53, 6379, 50001} {
		if g.allow(req.Raw, netip.AddrPortFrom(relay, port)) {
			t.Errorf("a check went to port %d of the relay address", port)
		}
	}
	if !g.allow([]byte{0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, netip.AddrPortFrom(relay, 40000)) {
		t.Error("media to the relay address was held back (it only goes where ICE succeeded)")
	}
}
