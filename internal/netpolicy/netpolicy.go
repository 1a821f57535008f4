// Package netpolicy says which addresses the node may send packets or requests to on
// somebody else's say-so: the ICE candidates a client names, the webhook URLs an operator
// registers. By default only unicast addresses on the public internet qualify; loopback,
// private, link-local (the cloud metadata address among them), CGNAT, unspecified,
// multicast, reserved and documentation ranges do not, nor IPv6 forms that carry such an
// IPv4 address (mapped, NAT64, 6to4). An operator admits networks of its own explicitly.
package netpolicy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// nonPublic are ranges netip's predicates do not cover that nobody on the internet has.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (CGNAT)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast included
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2001::/32"),       // Teredo: an IPv4 peer behind it
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// Public says whether a is a unicast address on the public internet.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.IsPrivate() || a.IsLoopback() ||
		a.IsLinkLocalUnicast() || a.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	switch b := a.As16(); {
	case nat64.Contains(a): // the IPv4 address in its last 32 bits
		return Public(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	case sixTo4.Contains(a): // the IPv4 address in bits 16-47
		return Public(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	}
	return true
}

// Allowed says whether a may be reached: inside one of nets (an operator's own), or
// public.
func Allowed(a netip.Addr, nets []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return Public(a)
}

// ErrNotAllowed is a destination outside what the policy admits.
var ErrNotAllowed = errors.New("destination not allowed: a loopback, private, link-local or reserved address")

// Control is a net.Dialer Control function that refuses to connect to an address
// Allowed does not admit. It sees the address actually dialed, after name resolution,
// so a name that resolves elsewhere than it did when it was checked (DNS rebinding)
// gets no further.
func Control(nets []netip.Prefix) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNotAllowed, err)
		}
		if !Allowed(ap.Addr(), nets) {
			return ErrNotAllowed
		}
		return nil
	}
}

// Dialer is a dialer that connects only where Allowed admits.
func Dialer(nets []netip.Prefix) *net.Dialer {
	return &net.Dialer{Control: Control(nets)}
}
