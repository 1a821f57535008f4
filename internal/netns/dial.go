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

// Dial connects to addr as a process in the namespace would: "127.0.0.1:9222" is the
// namespace's own loopback. The socket is made on a thread moved into the namespace;
// the thread is thrown away after (its goroutine ends locked), never handed back to
// the Go scheduler in the wrong namespace.
func (l *Link) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread ends with the goroutine
		f, err := os.Open("/var/run/netns/" + l.NS)
		if err != nil {
			done <- result{err: fmt.Errorf("namespace %s: %w", l.NS, err)}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("enter namespace %s: %w", l.NS, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
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
				l.pipe(ctx, c, addr)
			}()
		}
	}()
	return ln.Addr().String()
}

// pipe copies between c and a connection to addr in the namespace until either ends
// or ctx is done.
func (l *Link) pipe(ctx context.Context, c net.Conn, addr string) {
	defer c.Close()
	up, err := l.Dial(ctx, "tcp", addr)
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
