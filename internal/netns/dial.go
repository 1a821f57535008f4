package netns

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// inNamespace runs fn on a thread moved into the namespace and returns its error. A
// socket keeps the namespace it was made in, so what fn opens stays there. The thread
// is thrown away after (its goroutine ends locked), never handed back to the Go
// scheduler in the wrong namespace.
func (l *Link) inNamespace(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread ends with the goroutine
		f, err := os.Open("/var/run/netns/" + l.NS)
		if err != nil {
			done <- fmt.Errorf("namespace %s: %w", l.NS, err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("enter namespace %s: %w", l.NS, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

// Dial connects to addr as a process in the namespace would: "127.0.0.1:9222" is the
// namespace's own loopback.
func (l *Link) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := l.inNamespace(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen listens on addr as a process in the namespace would.
func (l *Link) Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := l.inNamespace(func() (err error) {
		var lc net.ListenConfig
		ln, err = lc.Listen(ctx, network, addr)
		return err
	})
	return ln, err
}

// Forward listens on this machine's loopback and joins each connection to addr inside
// the namespace (Dial), until t ends; it returns the address to connect to. A tool run
// in the namespace that listens only on its loopback (Chromium's DevTools does) is
// reached through it.
func (l *Link) Forward(t testing.TB, addr string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatalf("forward to %s in %s: %v", addr, l.NS, err)
	}
	serve(ctx, cancel, t, ln, func(ctx context.Context) (net.Conn, error) { return l.Dial(ctx, "tcp", addr) })
	return ln.Addr().String()
}

// Expose makes a TCP service listening on this machine's addr (a loopback address, as
// the tests' Redis and PostgreSQL) answer at the same address inside the namespace,
// until t ends: a program run there reaches it with the URL the tests use. Its
// connections cross no link, so no loss or shaping of the link touches them.
func (l *Link) Expose(t testing.TB, addr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := l.Listen(ctx, "tcp", addr)
	if err != nil {
		cancel()
		t.Fatalf("expose %s in %s: %v", addr, l.NS, err)
	}
	serve(ctx, cancel, t, ln, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	})
}

// serve accepts on ln and joins each connection to one dial makes, until t ends (then
// cancel stops every pipe and serve waits for them).
func serve(ctx context.Context, cancel context.CancelFunc, t testing.TB, ln net.Listener, dial func(context.Context) (net.Conn, error)) {
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				pipe(ctx, c, dial)
			}()
		}
	}()
}

// pipe copies between c and a connection dial makes until either ends or ctx is done.
func pipe(ctx context.Context, c net.Conn, dial func(context.Context) (net.Conn, error)) {
	defer c.Close()
	up, err := dial(ctx)
	if err != nil {
		return
	}
	defer up.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close(); _ = up.Close() })
	defer stop()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = up.Close()
	<-done
}
