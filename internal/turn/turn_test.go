package turn

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livegate/livegate/internal/testservices"
)

// testServer runs a TURN server on loopback in front of a stand-in for the node's media
// socket, which answers every datagram with "pong:" and the datagram.
func testServer(t *testing.T, mutate func(*Config)) (*Server, *net.UDPConn) {
	t.Helper()
	media, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = media.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := media.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = media.WriteTo(append([]byte("pong:"), buf[:n]...), from)
		}
	}()
	certFile, keyFile := testservices.Certificate(t, netip.MustParseAddr("127.0.0.1"))
	cfg := Config{
		Secret: []byte("a shared secret of the test, at least 32 bytes"), Host: "127.0.0.1",
		UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile,
		Media:         media.LocalAddr().(*net.UDPAddr).AddrPort(),
		MaxPerSession: 2, MaxPerClient: 8,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, media
}

// client connects to one of the server's URLs the way a browser would: UDP, TCP, or TLS
// (checking the certificate) over TCP.
func client(t *testing.T, srv *Server, s ICEServer) *pionturn.Client {
	t.Helper()
	rest, _ := strings.CutPrefix(s.URL, "turns:")
	rest, _ = strings.CutPrefix(rest, "turn:")
	addr, transport, _ := strings.Cut(rest, "?transport=")
	var conn net.PacketConn
	switch {
	case strings.HasPrefix(s.URL, "turns:"):
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "127.0.0.1", RootCAs: roots(t, srv.cfg.CertFile), MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		conn = pionturn.NewSTUNConn(c)
	case transport == "tcp":
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn = pionturn.NewSTUNConn(c)
	default:
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	}
	t.Cleanup(func() { _ = conn.Close() })
	c, err := pionturn.NewClient(&pionturn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: s.Username, Password: s.Credential, Realm: Realm, RTO: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// roots trusts the test's self-signed certificate only.
func roots(t *testing.T, certFile string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatal("no certificate in", certFile)
	}
	return pool
}

func TestRelayReachesTheNodeOverUDPTCPAndTLS(t *testing.T) {
	s, media := testServer(t, nil)
	servers := s.ICEServers("sess1")
	if len(servers) != 3 {
		t.Fatalf("ICE servers: %+v, want udp, tcp and tls", servers)
	}
	for i, want := range []string{"turn:127.0.0.1:", "turn:127.0.0.1:", "turns:127.0.0.1:"} {
		if !strings.HasPrefix(servers[i].URL, want) {
			t.Errorf("URL %d = %q, want %q...", i, servers[i].URL, want)
		}
	}
	for _, srv := range servers {
		t.Run(srv.URL, func(t *testing.T) {
			c := client(t, s, srv)
			relay, err := c.Allocate()
			if err != nil {
				t.Fatalf("allocate: %v", err)
			}
			defer relay.Close()
			if got := relay.LocalAddr().(*net.UDPAddr).IP.String(); got != "127.0.0.1" {
				t.Errorf("relay address %s, want the relay IP", got)
			}
			if _, err := relay.WriteTo([]byte("ping"), media.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			_ = relay.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 1500)
			n, from, err := relay.ReadFrom(buf)
			if err != nil {
				t.Fatalf("no answer from the node through the relay: %v", err)
			}
			if string(buf[:n]) != "pong:ping" || from.String() != media.LocalAddr().String() {
				t.Errorf("got %q from %s, want pong:ping from %s", buf[:n], from, media.LocalAddr())
			}
		})
	}
}

func TestRelayIsNotOpen(t *testing.T) {
	s, media := testServer(t, nil)
	// Another UDP service on the node's own address: the relay must not reach it.
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	srv := s.ICEServers("sess1")[0]
	c := client(t, s, srv)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()

	// A peer that is not the node: the permission is refused.
	elsewhere := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: media.LocalAddr().(*net.UDPAddr).Port}
	if err := c.CreatePermission(elsewhere); err == nil {
		t.Error("permission to 127.0.0.2 granted; only the node may be a peer")
	}
	// The node's address, another port: permitted by IP (TURN permissions are per IP),
	// but nothing arrives there.
	if _, err := relay.WriteTo([]byte("to redis?"), other.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := relay.WriteTo([]byte("ping"), media.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = relay.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	if _, _, err := relay.ReadFrom(buf); err != nil {
		t.Fatalf("the node itself unreachable: %v", err)
	}
	_ = other.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := other.ReadFrom(buf); err == nil {
		t.Errorf("another port of the node received %q through the relay", buf[:n])
	}
	if got := testutil.ToFloat64(s.metrics.dropped); got < 1 {
		t.Errorf("dropped datagrams counted %v, want at least 1", got)
	}
}

func TestCredentials(t *testing.T) {
	s, _ := testServer(t, nil)
	good := s.ICEServers("sess1")[1] // TCP

	for name, srv := range map[string]ICEServer{
		"wrong password": {URL: good.URL, Username: good.Username, Credential: "x" + good.Credential},
		"other session":  {URL: good.URL, Username: strings.Replace(good.Username, "sess1", "sess2", 1), Credential: good.Credential},
		"no expiry":      {URL: good.URL, Username: "sess1", Credential: good.Credential},
	} {
		t.Run(name, func(t *testing.T) {
			c := client(t, s, srv)
			if relay, err := c.Allocate(); err == nil {
				relay.Close()
				t.Fatal("allocated with a bad credential")
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		s.now = func() time.Time { return time.Now().Add(-2 * DefaultTTL) }
		old := s.ICEServers("sess1")[1]
		s.now = time.Now
		c := client(t, s, old)
		if relay, err := c.Allocate(); err == nil {
			relay.Close()
			t.Fatal("allocated with an expired credential")
		}
	})
}

func TestAllocationsAreBoundedPerSession(t *testing.T) {
	s, _ := testServer(t, nil) // MaxPerSession 2
	srv := s.ICEServers("sess1")[1]
	var relays []net.PacketConn
	for range 2 {
		relay, err := client(t, s, srv).Allocate()
		if err != nil {
			t.Fatal(err)
		}
		relays = append(relays, relay)
	}
	if relay, err := client(t, s, srv).Allocate(); err == nil {
		relay.Close()
		t.Fatal("a third allocation of one session was granted")
	}
	if got := s.Allocations(); got != 2 {
		t.Errorf("open allocations %d, want 2", got)
	}
	// Another session is not held back by the first.
	relay, err := client(t, s, s.ICEServers("sess2")[1]).Allocate()
	if err != nil {
		t.Fatalf("another session refused: %v", err)
	}
	relays = append(relays, relay)
	for _, r := range relays {
		_ = r.Close()
	}
}
