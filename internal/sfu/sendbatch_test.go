package sfu

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// batchedPair is a batching socket and the loopback socket it sends to.
func batchedPair(t *testing.T) (*fanOuts, *guardedConn, *net.UDPConn, netip.AddrPort) {
	t.Helper()
	send, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { send.Close() })
	recv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { recv.Close() })
	fan := &fanOuts{}
	c := &guardedConn{UDPConn: send, guard: newSTUNGuard(func() {}), fanOuts: fan, batch: newBatch(send)}
	fan.add(c)
	return fan, c, recv, recv.LocalAddr().(*net.UDPAddr).AddrPort()
}

// A fan-out's datagrams wait in the socket's batch and leave, whole and in order, when
// it ends; a write outside a fan-out leaves at once.
func TestFanOutBatchesSends(t *testing.T) {
	fan, c, recv, to := batchedPair(t)

	read := func(within time.Duration) ([]byte, bool) {
		_ = recv.SetReadDeadline(time.Now().Add(within))
		b := make([]byte, 2000)
		n, err := recv.Read(b)
		return b[:n], err == nil
	}
	packet := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100+i) }

	fan.begin()
	for i := range 100 { // more than a batch holds: a full batch leaves on its own
		if _, err := c.WriteToAddrPort(packet(i), to); err != nil {
			t.Fatal(err)
		}
	}
	for i := range batchSlots {
		got, ok := read(time.Second)
		if !ok || !bytes.Equal(got, packet(i)) {
			t.Fatalf("datagram %d of the full batch: %v %d bytes", i, ok, len(got))
		}
	}
	if _, ok := read(50 * time.Millisecond); ok {
		t.Fatal("a datagram of the fan-out left before it ended, with the batch not full")
	}
	fan.end()
	for i := batchSlots; i < 100; i++ {
		got, ok := read(time.Second)
		if !ok || !bytes.Equal(got, packet(i)) {
			t.Fatalf("datagram %d after the fan-out: %v %d bytes", i, ok, len(got))
		}
	}
	if _, err := c.WriteToAddrPort([]byte("alone"), to); err != nil {
		t.Fatal(err)
	}
	if got, ok := read(time.Second); !ok || string(got) != "alone" {
		t.Fatalf("a write outside a fan-out: %v %q", ok, got)
	}
}

// The batch goes to IPv6 addresses too, on an IPv6 socket.
func TestFanOutBatchesSendsOverIPv6(t *testing.T) {
	send, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer send.Close()
	recv, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	fan := &fanOuts{}
	c := &guardedConn{UDPConn: send, guard: newSTUNGuard(func() {}), fanOuts: fan, batch: newBatch(send)}
	fan.add(c)
	to := netip.AddrPortFrom(netip.IPv6Loopback(), recv.LocalAddr().(*net.UDPAddr).AddrPort().Port())
	fan.begin()
	for i := range 3 {
		_, _ = c.WriteToAddrPort([]byte(fmt.Sprint(i)), to)
	}
	fan.end()
	for i := range 3 {
		_ = recv.SetReadDeadline(time.Now().Add(time.Second))
		b := make([]byte, 100)
		n, err := recv.Read(b)
		if err != nil || string(b[:n]) != fmt.Sprint(i) {
			t.Fatalf("datagram %d over IPv6: %v %q", i, err, b[:n])
		}
	}
}

func BenchmarkFanOutSend(b *testing.B) {
	send, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer send.Close()
	recv, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer recv.Close()
	_ = recv.SetReadBuffer(64 << 20)
	to := recv.LocalAddr().(*net.UDPAddr).AddrPort()
	payload := make([]byte, 1200)
	for _, batched := range []bool{false, true} {
		b.Run(fmt.Sprintf("batched=%v", batched), func(b *testing.B) {
			fan := &fanOuts{}
			c := &guardedConn{UDPConn: send, guard: newSTUNGuard(func() {}), fanOuts: fan}
			if batched {
				c.batch = newBatch(send)
				fan.add(c)
			}
			go func() { // keep the receiver's buffer from filling
				buf := make([]byte, 2000)
				for {
					if _, err := recv.Read(buf); err != nil {
						return
					}
				}
			}()
			b.SetBytes(int64(len(payload)) * 50)
			for b.Loop() { // one fan-out to 50 viewers
				fan.begin()
				for range 50 {
					_, _ = c.WriteToAddrPort(payload, to)
				}
				fan.end()
			}
		})
	}
}

// A write that comes while datagrams still wait (a fan-out has just ended, its flush not
// yet done) goes behind them, never ahead.
func TestBatchKeepsOrderAfterAFanOutEnds(t *testing.T) {
	fan, c, recv, to := batchedPair(t)
	fan.begin()
	_, _ = c.WriteToAddrPort([]byte("first"), to)
	fan.open.Add(-1) // the fan-out is over; its flush has not run yet
	_, _ = c.WriteToAddrPort([]byte("second"), to)
	for _, want := range []string{"first", "second"} {
		_ = recv.SetReadDeadline(time.Now().Add(time.Second))
		b := make([]byte, 100)
		n, err := recv.Read(b)
		if err != nil || string(b[:n]) != want {
			t.Fatalf("got %q (%v), want %q", b[:n], err, want)
		}
	}
}
