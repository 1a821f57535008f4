package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/poll"
)

// startChildPublisher runs an encoder in a child process (this test binary, see
// TestMain) publishing to s, and returns once it publishes. Kill it with SIGKILL to
// crash it: no DELETE, no DTLS close.
func startChildPublisher(t *testing.T, n *testNode, s streamInfo) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childPublishEnv+"="+n.URL()+"/whip/"+s.ID, childPublishEnv+"_KEY="+s.StreamKey)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "PUBLISHING" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("child publisher exited before publishing")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("child publisher did not publish within 15s")
	}
	return cmd
}

// checkAcrossSwitch asserts what a viewer sees when the publisher underneath changes: one
// unbroken run of sequence numbers (no gap, no jump backwards), timestamps that only go
// forward and advance by about the real pause, and the new publisher's video starting
// on a keyframe. It returns where the new publisher's packets start.
func checkAcrossSwitch(t *testing.T, kind string, pkts []received) int {
	t.Helper()
	sw := -1
	for i := 1; i < len(pkts); i++ {
		if pkts[i].seq != pkts[i-1].seq+1 {
			t.Fatalf("%s: packet %d has seq %d after %d: gap or jump", kind, i, pkts[i].seq, pkts[i-1].seq)
		}
		if d := int32(pkts[i].ts - pkts[i-1].ts); d < 0 {
			t.Fatalf("%s: packet %d's timestamp goes back by %d", kind, i, -d)
		}
		if pkts[i].index < pkts[i-1].index && sw < 0 {
			sw = i
		}
	}
	if sw < 0 {
		t.Fatalf("%s: no packet of the new publisher among %d", kind, len(pkts))
	}
	if kind == "video" && !pkts[sw].key {
		t.Errorf("video: the new publisher's first packet (its %d) is not a keyframe", pkts[sw].index)
	}
	wall := pkts[sw].at.Sub(pkts[sw-1].at).Seconds()
	rate := 90000.0
	if kind == "audio" {
		rate = 48000
	}
	ticks := float64(pkts[sw].ts-pkts[sw-1].ts) / rate
	if ticks < wall*0.5-0.1 || ticks > wall*2+0.3 {
		t.Errorf("%s: timestamps advance %.2fs across a %.2fs pause", kind, ticks, wall)
	}
	return sw
}

// An encoder that crashes (SIGKILL: no DELETE, no DTLS close) and reconnects with the
// same key is back at once, and its viewers, never disconnected, resume from a keyframe
// with continuous numbering. The stream stays live throughout.
func TestEncoderKilledThenReconnects(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	child := startChildPublisher(t, n, s)
	v := mustWatch(t, n, s)
	v.waitPackets(t, "video", 30, 10*time.Second)
	v.waitPackets(t, "audio", 50, 10*time.Second)

	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	time.Sleep(700 * time.Millisecond)
	if st := n.stream(s.ID); st.State != "live" {
		t.Fatalf("stream %s after the encoder crashed, want live", st.State)
	}
	before := len(v.snapshot("video"))

	start := time.Now()
	publish(t, n, s, webrtc.MimeTypeVP8, 30) // fails the test unless the POST gets 201
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("reconnect took %v", took)
	}
	v.waitPackets(t, "video", before+60, 10*time.Second)
	v.waitPackets(t, "audio", len(v.snapshot("audio"))+50, 10*time.Second)
	checkAcrossSwitch(t, "video", v.snapshot("video"))
	checkAcrossSwitch(t, "audio", v.snapshot("audio"))
	select {
	case <-v.closed:
		t.Fatal("viewer was disconnected by the reconnect")
	default:
	}
	if st := n.stream(s.ID); st.State != "live" || st.Viewers != 1 || st.Publisher != "connected" {
		t.Errorf("after the reconnect: %+v", st)
	}
}

// A publisher still attached is replaced by a new connection with the key at once; the
// old one is closed, and its DELETE no longer ends the stream.
func TestReconnectTakesOver(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	old := publish(t, n, s, webrtc.MimeTypeVP8, 30)
	v := mustWatch(t, n, s)
	v.waitPackets(t, "video", 30, 10*time.Second)
	oldClosed := make(chan struct{})
	old.sess.PC.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateClosed || st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateDisconnected {
			select {
			case <-oldClosed:
			default:
				close(oldClosed)
			}
		}
	})

	next := publish(t, n, s, webrtc.MimeTypeVP8, 30)
	v.waitPackets(t, "video", len(v.snapshot("video"))+60, 10*time.Second)
	checkAcrossSwitch(t, "video", v.snapshot("video"))
	select {
	case <-oldClosed:
	case <-time.After(10 * time.Second):
		t.Error("the replaced publisher's connection was not closed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := old.sess.Close(ctx); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("DELETE of the replaced WHIP session: %v, want 404", err)
	}
	if st := n.stream(s.ID); st.State != "live" {
		t.Fatalf("stream %s after the old session's DELETE, want live", st.State)
	}
	if err := next.sess.Close(ctx); err != nil {
		t.Fatalf("DELETE of the current session: %v", err)
	}
	n.waitState(t, s.ID, "ended", 5*time.Second) // the current publisher's DELETE ends it
}

// Nobody reconnects: the stream waits out the grace window ("reconnecting", viewers
// attached), then ends, and its viewers are let go.
func TestStreamEndsAfterGraceWindow(t *testing.T) {
	parallelWait(t)
	n := startNode(t, func(c *config.Config) { c.ReconnectGrace = 2 * time.Second })
	s := n.newStream()
	child := startChildPublisher(t, n, s)
	v := mustWatch(t, n, s)
	v.waitPackets(t, "video", 30, 10*time.Second)
	_ = child.Process.Kill()
	_ = child.Wait()

	// The node learns the encoder is gone when ICE gives up on it, then waits the window.
	sawReconnecting := false
	poll.Until(t, 40*time.Second, "the stream ended after the encoder died", func() error {
		st := n.stream(s.ID)
		if st.Publisher == "reconnecting" {
			sawReconnecting = true
			if st.Viewers != 1 {
				t.Errorf("viewers while reconnecting: %d, want 1", st.Viewers)
			}
		}
		return poll.Want(st.State == "ended", "still %s (publisher %q)", st.State, st.Publisher)
	})
	if !sawReconnecting {
		t.Error("stream never said it was reconnecting")
	}
	select {
	case <-v.closed:
	case <-time.After(5 * time.Second):
		t.Error("viewer still connected after the stream ended")
	}
	// An ended stream is final: the encoder coming back now is told so.
	res := n.raw("POST", "/whip/"+s.ID, "application/sdp", offerSDP(t, true), map[string]string{"Authorization": "Bearer " + s.StreamKey})
	expectProblem(t, "publish after the window", res, 409, "stream-ended")
}
