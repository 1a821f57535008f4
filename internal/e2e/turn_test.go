package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/mediagen"
	"github.com/livegate/livegate/internal/netns"
	"github.com/livegate/livegate/internal/testservices"
	"github.com/livegate/livegate/internal/whipclient"
)

// childViewEnv makes the test binary a WHEP viewer instead (see childViewer): run in a
// network namespace, it is a viewer on another network.
const childViewEnv = "LIVEGATE_E2E_CHILD_VIEW"

// childView is what a child viewer is asked to do.
type childView struct {
	Endpoint string
	Iface    string // the only interface it gathers on
	// Transport picks the node's TURN URLs it uses ("udp", "tcp" or "tls") and makes
	// it relay-only (iceTransportPolicy "relay"); empty: no TURN.
	Transport string
	Watch     time.Duration // how long it counts media once connected
	Connect   time.Duration // how long it waits to connect
	TWCC      bool          // sends transport-wide feedback, as browsers do
}

// childResult is what a child viewer saw.
type childResult struct {
	Err           string
	JoinMS        int64 // from the OPTIONS request to the connection being up
	AnsweredMS    int64 // from the OPTIONS request to the WHEP answer (gathering included)
	Video, Audio  int   // packets received in the watch window (unique sequence numbers)
	FirstVideoKey bool  // the first video packet began a keyframe
	CandidateType string
	RelayProtocol string
	// Seconds are the watch window second by second: the simulcast layer seen most
	// (by packet size, simulcastLayers), and the whole frames completed.
	Seconds []second
}

// childViewer joins over WHEP as the spec says and prints a childResult as JSON.
func childViewer(spec string) int {
	var cv childView
	if err := json.Unmarshal([]byte(spec), &cv); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	res := viewFromChild(cv)
	_ = json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

func viewFromChild(cv childView) (res childResult) {
	ctx, cancel := context.WithTimeout(context.Background(), cv.Connect+cv.Watch+10*time.Second)
	defer cancel()
	fail := func(err error) childResult { res.Err = err.Error(); return res }
	// Only the namespace's end of the link: the namespace has no other route.
	api, err := whipclient.NewAPI(whipclient.Options{Interfaces: []string{cv.Iface}, TWCC: cv.TWCC})
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	var pcCfg webrtc.Configuration
	if cv.Transport != "" {
		servers, err := whipclient.ICEServers(ctx, cv.Endpoint)
		if err != nil {
			return fail(fmt.Errorf("OPTIONS: %w", err))
		}
		for _, s := range servers {
			u := s.URLs[0]
			tls := strings.HasPrefix(u, "turns:")
			if cv.Transport == "tls" && tls || !tls && strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, "transport="+cv.Transport) {
				pcCfg.ICEServers = append(pcCfg.ICEServers, s)
			}
		}
		if len(pcCfg.ICEServers) == 0 {
			return fail(fmt.Errorf("no %s TURN server among %v", cv.Transport, servers))
		}
		pcCfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}

	type pkt struct {
		video  bool
		seq    uint16
		key    bool
		at     time.Time
		ts     uint32
		marker bool
		size   int
	}
	pkts := make(chan pkt, 4096)
	onTrack := func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		video := tr.Kind() == webrtc.RTPCodecTypeVideo
		go func() {
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				_, key, _ := mediagen.Check(tr.Codec().MimeType, p.Payload)
				select {
				case pkts <- pkt{video: video, seq: p.SequenceNumber, key: key, at: time.Now(), ts: p.Timestamp, marker: p.Marker, size: len(p.Payload)}:
				default:
				}
			}
		}()
	}
	sess, err := whipclient.ViewConfigured(ctx, api, cv.Endpoint, "", pcCfg, whipclient.Shape{}, onTrack)
	if err != nil {
		return fail(fmt.Errorf("join: %w", err))
	}
	defer sess.PC.Close()
	res.AnsweredMS = sess.Answered.Sub(start).Milliseconds()
	up := make(chan struct{})
	sess.PC.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			select {
			case <-up:
			default:
				close(up)
			}
		}
	})
	if sess.PC.ConnectionState() == webrtc.PeerConnectionStateConnected {
		close(up)
	}
	select {
	case <-up:
	case <-time.After(cv.Connect):
		return fail(fmt.Errorf("not connected within %v (state %s)", cv.Connect, sess.PC.ConnectionState()))
	}
	res.JoinMS = time.Since(start).Milliseconds()
	for _, s := range sess.PC.GetStats() {
		pair, ok := s.(webrtc.ICECandidatePairStats)
		if !ok || !pair.Nominated {
			continue
		}
		if local, ok := sess.PC.GetStats()[pair.LocalCandidateID].(webrtc.ICECandidateStats); ok {
			res.CandidateType, res.RelayProtocol = local.CandidateType.String(), local.RelayProtocol
		}
	}
	seen := map[[2]uint32]bool{}
	first := true
	watchStart := time.Now()
	var frames frameCounter
	deadline := time.After(cv.Watch)
	for {
		select {
		case p := <-pkts:
			if p.video && p.size > 0 {
				frames.add(int(p.at.Sub(watchStart)/time.Second), p.seq, p.ts, p.marker, p.size)
			}
			if p.video && first {
				res.FirstVideoKey, first = p.key, false
			}
			kind := uint32(0)
			if p.video {
				kind = 1
			}
			if seen[[2]uint32{kind, uint32(p.seq)}] {
				continue
			}
			seen[[2]uint32{kind, uint32(p.seq)}] = true
			if p.video {
				res.Video++
			} else {
				res.Audio++
			}
		case <-deadline:
			res.Seconds = frames.seconds(int(cv.Watch / time.Second))
			return res
		}
	}
}

// second is one second of what a viewer saw.
type second struct {
	Layer       string // the simulcast layer most of its video packets were of ("" none)
	WholeFrames int    // frames completed in it, every packet of the frame received
}

// frameCounter counts whole frames by second: a frame is the packets of one timestamp,
// whole when its sequence numbers run unbroken up to the marker packet, and counted in
// the second its last missing packet arrived (a retransmission can complete it late).
type frameCounter struct {
	frames map[uint32]*frame
	ends   map[uint16]bool        // sequence numbers of marker packets: frames' ends
	layers map[int]map[string]int // second -> layer -> packets ("whole": frames)
}

type frame struct {
	seqs    map[uint16]bool
	end     uint16
	hasEnd  bool
	counted bool
	min     uint16
}

func (c *frameCounter) add(sec int, seq uint16, ts uint32, marker bool, size int) {
	if c.frames == nil {
		c.frames, c.ends, c.layers = map[uint32]*frame{}, map[uint16]bool{}, map[int]map[string]int{}
	}
	if c.layers[sec] == nil {
		c.layers[sec] = map[string]int{}
	}
	c.layers[sec][layerOf(received{size: size})]++
	f := c.frames[ts]
	if f == nil {
		f = &frame{seqs: map[uint16]bool{}, min: seq}
		c.frames[ts] = f
	}
	f.seqs[seq] = true
	if int16(seq-f.min) < 0 {
		f.min = seq
	}
	if marker {
		f.end, f.hasEnd = seq, true
		c.ends[seq] = true
	}
	if f.counted || !f.hasEnd {
		return
	}
	for s := f.min; ; s++ {
		if !f.seqs[s] {
			return
		}
		if s == f.end {
			break
		}
	}
	// The frame's first packet: the one after some frame's end (its predecessor's
	// marker), or a lost one makes min a later packet and the frame is not whole.
	if c.ends[f.min-1] {
		f.counted = true
		c.layers[sec]["whole"]++
	}
}

func (c *frameCounter) seconds(n int) []second {
	out := make([]second, n)
	for i := range out {
		best := 0
		for l, k := range c.layers[i] {
			if l != "" && l != "whole" && k > best {
				out[i].Layer, best = l, k
			}
		}
		out[i].WholeFrames = c.layers[i]["whole"]
	}
	return out
}

// runChildViewer runs a viewer in the link's namespace and returns what it saw.
func runChildViewer(t *testing.T, l *netns.Link, cv childView, env ...string) childResult {
	t.Helper()
	spec, err := json.Marshal(cv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cv.Connect+cv.Watch+30*time.Second)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := l.Command(ctx, exe)
	cmd.Env = append(append(os.Environ(), childViewEnv+"="+string(spec)), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child viewer: %v\n%s", err, stderr.String())
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("child viewer's output %q: %v\n%s", out, err, stderr.String())
	}
	return res
}

// certFor writes a self-signed certificate for ip and its key, as an operator's TURN
// TLS listener would have from files.
func certFor(t *testing.T, ip netip.Addr) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "livegate turn test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{ip.AsSlice()},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "turn.crt"), filepath.Join(dir, "turn.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// freeAddrOn is an address with a TCP port free on ip now.
func freeAddrOn(t *testing.T, ip netip.Addr) string {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// turnNode is a node whose HTTP and TURN listeners are on the link's host address (the
// namespace reaches nothing else) while its media socket stays on loopback: a viewer in
// the namespace can only get media through the node's TURN relay.
func turnNode(t *testing.T, l *netns.Link) (*testNode, string) {
	t.Helper()
	certFile, keyFile := certFor(t, l.HostAddr)
	host := l.HostAddr.String()
	n := startNode(t, func(c *config.Config) {
		c.HTTPAddr = freeAddrOn(t, l.HostAddr)
		c.PublicURL = "http://" + c.HTTPAddr
		c.TURN = config.TURNConfig{Secret: "e2e-turn-secret-0123456789abcdefghij", Host: host,
			UDPAddr: host + ":0", TCPAddr: host + ":0", TLSAddr: host + ":0", CertFile: certFile, KeyFile: keyFile,
			RelayIP: "127.0.0.1", TTL: 10 * time.Minute, MaxPerSession: 12, MaxPerClient: 100}
	})
	return n, certFile
}

// A viewer whose network drops UDP plays through the node's TURN server, over TCP and
// over TLS; without TURN it cannot connect at all.
func TestViewerBehindUDPBlockPlaysThroughTURN(t *testing.T) {
	l := netns.New(t, netns.Unavailable{NotRoot: testservices.SkipHere, Missing: testservices.Missing})
	n, certFile := turnNode(t, l)
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	l.BlockUDP(t)
	endpoint := n.URL() + "/whep/" + s.ID

	t.Run("udp is blocked", func(t *testing.T) {
		res := runChildViewer(t, l, childView{Endpoint: endpoint, Iface: l.PeerIf, Transport: "udp", Watch: time.Second, Connect: 6 * time.Second})
		if res.Err == "" {
			t.Fatalf("a viewer connected over TURN/UDP through a network that drops UDP: %+v", res)
		}
	})
	for _, transport := range []string{"tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			res := runChildViewer(t, l, childView{Endpoint: endpoint, Iface: l.PeerIf, Transport: transport, Watch: 4 * time.Second, Connect: 10 * time.Second},
				"SSL_CERT_FILE="+certFile) // the child trusts the node's certificate, as a browser trusts a CA's
			t.Logf("%s: %+v", transport, res)
			if res.Err != "" {
				t.Fatalf("viewer over TURN/%s: %s", transport, res.Err)
			}
			if res.CandidateType != "relay" || res.RelayProtocol != transport {
				t.Errorf("connected over a %s candidate (relay protocol %q), want relay over %s", res.CandidateType, res.RelayProtocol, transport)
			}
			// 300 kbit/s VP8 is about 30 packets a second; Opus 50.
			if res.Video < 60 || res.Audio < 100 {
				t.Errorf("in 4 s: %d video and %d audio packets", res.Video, res.Audio)
			}
			if !res.FirstVideoKey {
				t.Error("the first video packet did not start a keyframe")
			}
		})
	}
	if n.TURN == nil {
		t.Fatal("the node runs no TURN server")
	}
}

// A browser that may use nothing but TURN (iceTransportPolicy "relay", the page's
// ?relay=1) gets the node's TURN servers from the WHEP endpoint's Link headers and plays
// through them.
func TestBrowserPlaysThroughTURN(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, func(c *config.Config) {
		c.TURN = config.TURNConfig{Secret: "e2e-turn-secret-0123456789abcdefghij", Host: "127.0.0.1",
			UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", RelayIP: "127.0.0.1", TTL: 10 * time.Minute, MaxPerSession: 12, MaxPerClient: 100}
	})
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)

	browser := startBrowser(t, chromium)
	if _, err := chromedp.Run(browser, chromedp.Navigate(n.URL()+"/watch/"+s.ID+"?loopback=1&relay=1")); err != nil {
		t.Fatalf("open the viewer page: %v", err)
	}
	got := waitBrowserMedia(t, browser)
	if got.State != "connected" {
		t.Fatalf("browser state %+v", got)
	}
	const selected = `(async () => {
		let pairID = "", out = "";
		const stats = await window.livegatePC.getStats();
		stats.forEach((r) => { if (r.type === "transport" && r.selectedCandidatePairId) pairID = r.selectedCandidatePairId; });
		const pair = stats.get(pairID);
		if (pair) { const local = stats.get(pair.localCandidateId); if (local) out = local.candidateType + "/" + (local.relayProtocol || ""); }
		return out;
	})()`
	typ, err := chromedp.Run(browser, chromedp.Evaluate[string](selected, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(typ, "relay/") {
		t.Errorf("the browser's selected local candidate is %q, want a relay one", typ)
	}
	if n.TURN.Allocations() == 0 {
		t.Error("the node's TURN server holds no allocation while the browser plays through it")
	}
	t.Logf("Chromium played through TURN (%s): %d video, %d audio packets, %d frames", typ, got.Video, got.Audio, got.Frames)
}
