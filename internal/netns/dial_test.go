package netns

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listenIn listens on the namespace's loopback, as a tool run there would.
func listenIn(t *testing.T, l *Link) net.Listener {
	t.Helper()
	done := make(chan net.Listener, 1)
	go func() {
		runtime.LockOSThread() // the thread ends with the goroutine
		f, err := os.Open("/var/run/netns/" + l.NS)
		if err != nil {
			t.Error(err)
			done <- nil
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			done <- nil
			return
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Error(err)
		}
		done <- ln
	}()
	ln := <-done
	if ln == nil {
		t.FailNow()
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// A server on the namespace's loopback is not this machine's loopback, and Forward
// reaches it from here.
func TestForwardReachesTheNamespacesLoopback(t *testing.T) {
	l := New(t, unavailable)
	ln := listenIn(t, l)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				fmt.Fprintf(c, "echo %s", line)
			}()
		}
	}()
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
