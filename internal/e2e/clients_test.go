package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/mediagen"
	"github.com/livegate/livegate/internal/netsim"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/internal/testservices"
	"github.com/livegate/livegate/internal/whipclient"
)

// bundleOnly rewrites every media section after the first as GStreamer's webrtcbin and
// Firefox write them: port 0 with a=bundle-only (RFC 8843 §6).
func bundleOnly(sdp string) string {
	return shapeSections(sdp, func(i int, sec string) string {
		if i == 0 {
			return sec
		}
		sec = regexp.MustCompile(`^m=(\w+) 9 `).ReplaceAllString(sec, "m=$1 0 ")
		nl := strings.Index(sec, "\n") + 1
		return sec[:nl] + "a=bundle-only\r\n" + sec[nl:]
	})
}

// rejectAudio turns the audio section off the way an offerer rejects one: port 0, no
// bundle-only.
func rejectAudio(sdp string) string {
	return shapeSections(sdp, func(_ int, sec string) string {
		return strings.Replace(sec, "m=audio 9 ", "m=audio 0 ", 1)
	})
}

func shapeSections(sdp string, f func(i int, section string) string) string {
	parts := strings.Split(sdp, "\r\nm=")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.TrimPrefix(f(i-1, "m="+parts[i]), "m=")
	}
	return strings.Join(parts, "\r\nm=")
}

// watchShaped is watchWithToken with the SDP rewritten by shape.
func watchShaped(t *testing.T, n *testNode, s streamInfo, shape whipclient.Shape) (*viewer, error) {
	t.Helper()
	v := &viewer{packets: map[string][]received{}, mimes: map[string]string{}, closed: make(chan struct{}), started: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := whipclient.ViewShaped(ctx, clientAPI(t), n.URL()+"/whep/"+s.ID, "", shape, v.record)
	if err != nil {
		return nil, err
	}
	v.sess = sess
	t.Cleanup(func() { sess.PC.Close(); v.wg.Wait() })
	return v, nil
}

// A viewer whose offer bundles audio as bundle-only (GStreamer, Firefox) gets audio.
func TestBundleOnlyViewerGetsAudio(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	v, err := watchShaped(t, n, s, whipclient.Shape{Offer: bundleOnly})
	if err != nil {
		t.Fatalf("bundle-only viewer: %v", err)
	}
	if !strings.Contains(v.sess.Answer, "m=audio 9 ") || !regexp.MustCompile(`(?s)m=audio.*a=sendonly`).MatchString(v.sess.Answer) {
		t.Errorf("bundle-only audio not answered as a live bundled section:\n%s", v.sess.Answer)
	}
	v.waitPackets(t, "video", 30, 10*time.Second)
	v.waitPackets(t, "audio", 100, 10*time.Second)
	checkStream(t, "audio", v.snapshot("audio"), false)
}

// A section the viewer rejects is answered rejected (port 0), never sendonly; the other
// section plays.
func TestRejectedSectionAnsweredRejected(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	v, err := watchShaped(t, n, s, whipclient.Shape{Offer: rejectAudio})
	if err != nil {
		t.Fatalf("viewer rejecting audio: %v", err)
	}
	audio := v.sess.Answer[strings.Index(v.sess.Answer, "m=audio"):]
	if !strings.HasPrefix(audio, "m=audio 0 ") || strings.Contains(audio, "a=sendonly") {
		t.Errorf("rejected audio answered as:\n%s", audio)
	}
	v.waitPackets(t, "video", 30, 10*time.Second)
	if got := len(v.snapshot("audio")); got != 0 {
		t.Errorf("viewer that rejected audio got %d audio packets", got)
	}
}

// An encoder that bundles its audio as bundle-only (GStreamer's whipsink) goes live with
// both tracks.
func TestBundleOnlyPublisher(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	video, audio := genAV(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, _, err := whipclient.PublishShaped(ctx, clientAPI(t), n.URL()+"/whip/"+s.ID, s.StreamKey,
		whipclient.Shape{Offer: bundleOnly}, video.Track, audio.Track)
	if err != nil {
		t.Fatalf("bundle-only publisher: %v", err)
	}
	runSources(t, sess, video, audio)

	v := mustWatch(t, n, s)
	v.waitPackets(t, "video", 30, 10*time.Second)
	v.waitPackets(t, "audio", 100, 10*time.Second)
}

// The node's first DTLS flight, when lost, is sent again well before pion's default
// second: a relay drops the first DTLS datagram the node sends, and the viewer still
// connects within 600 ms of its answer (it took 1 s and more with the default).
func TestLostFirstDTLSFlightResentFast(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	var server netip.AddrPort
	for _, a := range n.SFU.UDPAddrs() {
		if ap := a.(*net.UDPAddr).AddrPort(); ap.Addr().Unmap() == netip.MustParseAddr("127.0.0.1") {
			server = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
	}
	if !server.IsValid() {
		t.Fatalf("node has no UDP address on 127.0.0.1: %v", n.SFU.UDPAddrs())
	}
	for i := range 3 {
		relay, err := netsim.NewRelay(server)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { relay.Close() })
		var dropped sync.Once
		relay.DropDown(func(pkt []byte) bool {
			drop := false
			if netsim.IsDTLS(pkt) {
				dropped.Do(func() { drop = true })
			}
			return drop
		})
		v, err := watchShaped(t, n, s, whipclient.Shape{Answer: func(a string) string { return netsim.PointAnswer(a, relay.Addr()) }})
		if err != nil {
			t.Fatalf("viewer %d through the relay: %v", i, err)
		}
		v.waitPackets(t, "video", 5, 10*time.Second)
		if relay.DroppedDown() != 1 {
			t.Fatalf("relay dropped %d packets, want the first DTLS flight only", relay.DroppedDown())
		}
		if took := v.sess.ConnectedAt().Sub(v.sess.Answered); took > 600*time.Millisecond {
			t.Errorf("viewer %d: DTLS up %v after the answer with its first flight lost", i, took)
		}
	}
}

// A node told to use an interface that has just come up (its IPv6 addresses still
// tentative) starts, skips what it cannot bind yet, and binds it once it can.
func TestNodeStartsBesideFreshInterface(t *testing.T) {
	if os.Geteuid() != 0 {
		testservices.SkipHere(t, "root (to create a veth pair)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		testservices.Missing(t, "iproute2", err)
	}
	testenv.Binary(t) // built now, so the node starts while the link is fresh
	ns, host, peer := "lgns"+randSuffix(), "lgv"+randSuffix(), "lgp"+randSuffix()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run("link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", host).Run() })
	// A unique-local address of our own on the host end, in DAD ("tentative") for a
	// second or so after the link comes up, like the link-local one.
	run("addr", "add", "fd6c:6976:6567::1/64", "dev", host)
	run("-n", ns, "link", "set", peer, "up")
	run("link", "set", host, "up")

	n := startProcess(t, "", []string{"--interfaces", "lo," + host}, nil)
	t.Logf("node output:\n%s", n.proc.Output())
	bound := regexp.MustCompile(`(listening|usable now)[^\n]*fd6c:6976:6567::1`)
	poll.Until(t, 10*time.Second, "the node bound the interface's address", func() error {
		return poll.Want(bound.MatchString(n.proc.Output()), "its output:\n%s", n.proc.Output())
	})
	if regexp.MustCompile(`listening[^\n]*fe80:`).MatchString(n.proc.Output()) {
		t.Errorf("node gathers on a link-local address:\n%s", n.proc.Output())
	}
	// And it serves viewers over loopback as ever.
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	v := mustWatch(t, n, s)
	v.waitPackets(t, "video", 30, 10*time.Second)
}

func randSuffix() string { return fmt.Sprintf("%04x", rand.Uint32()&0xffff) }

// A viewer on werift (a TypeScript WebRTC stack, installed by scripts/services.sh)
// plays audio and video over WHEP, five joins in a row (LIVEGATE_WERIFT_JOINS sets how
// many; docs/BENCHMARKS.md records 50, with the slowest connect).
func TestWeriftViewer(t *testing.T) {
	parallelWait(t)
	node, err := exec.LookPath("node")
	if err != nil {
		testservices.Missing(t, "node", err)
	}
	dir := filepath.Join("testdata", "werift")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "werift")); err != nil {
		testservices.Missing(t, "werift (npm ci in "+dir+")", err)
	}
	n := startNode(t, nil)
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	joins := 5
	if v, err := strconv.Atoi(os.Getenv("LIVEGATE_WERIFT_JOINS")); err == nil && v > 0 {
		joins = min(v, 200)
	}
	var connects []int
	for i := range joins {
		out, err := exec.Command(node, filepath.Join(dir, "whep.mjs"), n.URL()+"/whep/"+s.ID, "2").Output()
		if err != nil {
			t.Fatalf("werift viewer %d: %v\n%s", i, err, out)
		}
		var got struct {
			Audio, Video, ConnectMs, AfterAnswerMs int
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("werift viewer %d printed %q", i, out)
		}
		if got.Audio < 50 || got.Video < 30 {
			t.Errorf("werift viewer %d got %d audio and %d video packets in 2 s", i, got.Audio, got.Video)
		}
		t.Logf("werift viewer %d: %d audio, %d video packets; connected %d ms after the answer", i, got.Audio, got.Video, got.AfterAnswerMs)
		connects = append(connects, got.AfterAnswerMs)
	}
	sort.Ints(connects)
	t.Logf("werift: %d joins, connected after the WHEP answer in p50 %d ms, slowest %d ms", len(connects), connects[len(connects)/2], connects[len(connects)-1])
}

// genAV makes a 300 kbit/s VP8 source with a keyframe every 30 frames, and Opus.
func genAV(t *testing.T) (video, audio *mediagen.Source) {
	t.Helper()
	video, err := mediagen.NewVideo(webrtc.MimeTypeVP8, 300_000)
	if err != nil {
		t.Fatal(err)
	}
	video.KeyframeEvery = 30
	if audio, err = mediagen.NewOpus(); err != nil {
		t.Fatal(err)
	}
	return video, audio
}

// runSources runs the generated sources until the test ends, then closes sess.
func runSources(t *testing.T, sess *whipclient.Session, srcs ...*mediagen.Source) {
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, src := range srcs {
		wg.Add(1)
		go func() { defer wg.Done(); src.Run(ctx) }()
	}
	t.Cleanup(func() { stop(); sess.PC.Close(); wg.Wait() })
}
