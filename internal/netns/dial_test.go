package netns

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// listenIn listens on the namespace's loopback, as a tool run there would.
func listenIn(t *testing.T, l *Link) net.Listener {
	t.Helper()
	ln, err := l.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// answer serves ln until it closes: each connection's first line comes back after
// word, which says who answered.
func answer(ln net.Listener, word string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			line, _ := bufio.NewReader(c).ReadString('\n')
			fmt.Fprintf(c, "%s %s", word, line)
		}()
	}
}

// A server on the namespace's loopback is not this machine's loopback, and Forward
// reaches it from here.
func TestForwardReachesTheNamespacesLoopback(t *testing.T) {
	l := New(t, unavailable)
	ln := listenIn(t, l)
	go answer(ln, "echo")
	port := ln.Addr().(*net.TCPAddr).Port
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Skip("this machine's loopback happens to listen on the same port; nothing to tell apart")
	}
	c, err := net.DialTimeout("tcp", l.Forward(t, fmt.Sprintf("127.0.0.1:%d", port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "hello\n")
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != "echo hello\n" {
		t.Fatalf("through the forward: %q %v", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := l.Dial(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Fatalf("Dial in the namespace: %v", err)
	} else {
		c.Close()
	}
}

// A service on this machine's loopback answers inside the namespace at the same
// address through Expose, and not without it: the namespace's loopback is its own.
func TestExposeBringsAHostServiceIntoTheNamespace(t *testing.T) {
	l := New(t, unavailable)
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go answer(ln, "host")
	addr := ln.Addr().String()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if c, err := l.Dial(ctx, "tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s answers in the namespace before Expose: not the namespace's own loopback", addr)
	}
	l.Expose(t, addr)
	c, err := l.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s in the namespace after Expose: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "hello\n")
	if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != "host hello\n" {
		t.Fatalf("through Expose: %q %v", got, err)
	}
}
