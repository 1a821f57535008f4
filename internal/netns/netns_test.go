package netns

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// unavailable skips loudly: this package's tests run under `make test` as root, where
// a missing tool is services.sh's to install.
var unavailable = Unavailable{
	NotRoot: func(t testing.TB, why string) {
		t.Helper()
		fmt.Fprintf(os.Stderr, "SKIPPED %s: needs %s\n", t.Name(), why)
		t.Skip("SKIPPED: needs " + why)
	},
	Missing: func(t testing.TB, what string, err error) {
		t.Helper()
		if os.Getenv("LIVEGATE_REQUIRE_SERVICES") != "" {
			t.Fatalf("%s is required but not available: %v (`make test` installs it)", what, err)
		}
		fmt.Fprintf(os.Stderr, "SKIPPED %s: %s not available: %v\n", t.Name(), what, err)
		t.Skipf("SKIPPED: %s not available: %v", what, err)
	},
}

// sendFromNS sends n datagrams from the namespace to addr (bash's /dev/udp).
func sendFromNS(t *testing.T, l *Link, addr *net.UDPAddr, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	script := fmt.Sprintf(`for i in $(seq %d); do echo "datagram $i" > /dev/udp/%s/%d; done`, n, addr.IP, addr.Port)
	if out, err := l.Command(ctx, "bash", "-c", script).CombinedOutput(); err != nil {
		// With UDP blocked, bash reports every write refused; that is the point.
		t.Logf("sending from the namespace: %v (%s)", err, firstLine(out))
	}
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}

// receive counts datagrams arriving on c until none came for half a second.
func receive(c *net.UDPConn) int {
	buf := make([]byte, 1500)
	n := 0
	for {
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, _, err := c.ReadFrom(buf); err != nil {
			return n
		}
		n++
	}
}

func listenHost(t *testing.T, l *Link) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: l.HostAddr.AsSlice()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	// Big enough that the kernel keeps every datagram of a burst for receive to count.
	_ = c.SetReadBuffer(1 << 20)
	return c
}

func TestLinkCarriesLosesAndBlocksUDP(t *testing.T) {
	l := New(t, unavailable)
	c := listenHost(t, l)
	addr := c.LocalAddr().(*net.UDPAddr)

	sendFromNS(t, l, addr, 200)
	if got := receive(c); got != 200 {
		t.Fatalf("clean link: %d of 200 datagrams arrived", got)
	}

	l.LoseUp(t, 50)
	sendFromNS(t, l, addr, 400)
	// 50% of 400: 200 ± 10 standard deviations of 10 each.
	if got := receive(c); got < 100 || got > 300 {
		t.Errorf("50%% loss: %d of 400 arrived", got)
	}
	l.LoseUp(t, 0)
	sendFromNS(t, l, addr, 100)
	if got := receive(c); got != 100 {
		t.Errorf("loss turned off: %d of 100 arrived", got)
	}

	l.BlockUDP(t)
	sendFromNS(t, l, addr, 50)
	if got := receive(c); got != 0 {
		t.Errorf("UDP blocked: %d datagrams got through", got)
	}
}

func TestShapedLinkLimitsTheRate(t *testing.T) {
	l := New(t, unavailable)
	l.ShapeDown(t, "800kbit", "16kbit", "100ms")
	// A TCP transfer from the host into the namespace: bash reads it from /dev/tcp.
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: l.HostAddr.AsSlice()})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const size = 200_000 // 1.6 Mbit: two seconds at 800 kbit/s
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write(make([]byte, size))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	out, err := l.Command(ctx, "bash", "-c", fmt.Sprintf("cat < /dev/tcp/%s/%d | wc -c", l.HostAddr, ln.Addr().(*net.TCPAddr).Port)).CombinedOutput()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("transfer: %v\n%s", err, out)
	}
	if got := string(out); got != fmt.Sprintf("%d\n", size) {
		t.Fatalf("received %q bytes, want %d", got, size)
	}
	// 2 s at the shaped rate; unshaped, loopback-fast (milliseconds).
	if took < 1500*time.Millisecond {
		t.Errorf("%d bytes took %v through an 800 kbit/s link: not shaped", size, took)
	}
}
