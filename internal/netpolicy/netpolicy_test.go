package netpolicy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true, "151.101.1.69": true,
		"127.0.0.1": false, "127.9.9.9": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "100.64.0.1": false, "100.127.255.254": false, "0.0.0.0": false, "::": false,
		"255.255.255.255": false, "224.0.0.1": false, "fd00:ec2::254": false, "fc00::1": false,
		"::ffff:127.0.0.1": false, "::ffff:8.8.8.8": true, "64:ff9b::7f00:1": false, "64:ff9b::808:808": true,
		"2002:7f00:1::1": false, "2002:808:808::1": true, "2001:0:4136:e378::1": false, "198.51.100.7": false,
	} {
		if got := Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
	if !Allowed(netip.MustParseAddr("10.1.2.3"), []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}) {
		t.Error("an operator's network was refused")
	}
}

// The dialer refuses the address it would connect to, whatever name led there.
func TestDialerRefusesWhatItResolves(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, target := range []string{ln.Addr().String(), "localhost:" + port} {
		if c, err := Dialer(nil).DialContext(ctx, "tcp", target); !errors.Is(err, ErrNotAllowed) {
			if c != nil {
				c.Close()
			}
			t.Errorf("dial %s: %v, want refused", target, err)
		}
	}
	c, err := Dialer([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial an allowed network: %v", err)
	}
	c.Close()
}
