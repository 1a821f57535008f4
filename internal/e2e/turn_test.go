package e2e

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/netns"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/testservices"
)

// turnNode is a node whose HTTP and TURN listeners are on the link's host address (the
// namespace reaches nothing else) while its media socket stays on loopback: a viewer in
// the namespace can only get media through the node's TURN relay.
func turnNode(t *testing.T, l *netns.Link) (*testNode, string) {
	t.Helper()
	certFile, keyFile := testservices.Certificate(t, l.HostAddr)
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
	typ, err := chromedp.Run(browser, chromedp.Evaluate[string](selectedCandidateJS, chromedp.EvalAwaitPromise))
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

// selectedCandidateJS says what the page's peer connection's selected local candidate
// is: "relay/tls" for one relayed through TURN over TLS.
const selectedCandidateJS = `(async () => {
	let pairID = "", out = "";
	const stats = await window.livegatePC.getStats();
	stats.forEach((r) => { if (r.type === "transport" && r.selectedCandidatePairId) pairID = r.selectedCandidatePairId; });
	const pair = stats.get(pairID);
	if (pair) { const local = stats.get(pair.localCandidateId); if (local) out = local.candidateType + "/" + (local.relayProtocol || ""); }
	return out;
})()`

// joinClockJS, run in a page before its own scripts, notes when the page's peer
// connection connected and when it decoded its first video frame, on the page's clock
// (milliseconds since the navigation began): what a viewer waits from opening the page.
const joinClockJS = `(() => {
	const Native = window.RTCPeerConnection;
	window.livegateJoin = {};
	window.RTCPeerConnection = function (...args) {
		const pc = new Native(...args);
		pc.addEventListener("connectionstatechange", () => {
			if (pc.connectionState === "connected" && !window.livegateJoin.connected) window.livegateJoin.connected = performance.now();
		});
		const tick = async () => {
			if (pc.connectionState === "closed") return;
			let frames = 0;
			(await pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") frames = r.framesDecoded || 0; });
			if (frames > 0) { window.livegateJoin.firstFrame = performance.now(); return; }
			setTimeout(tick, 5);
		};
		setTimeout(tick, 5);
		return pc;
	};
	window.RTCPeerConnection.prototype = Native.prototype;
})()`

// A Chromium viewer on a network that lets only TLS out (UDP dropped by nftables, and
// the node's TURN server listening on TLS alone) opens the watch page and plays through
// TURN/TLS, three joins in a row. The browser trusts the node's certificate by its key
// (--ignore-certificate-errors-spki-list, the way a pinned test CA would), so the TLS
// handshake is a real one. The join times are docs/BENCHMARKS.md's.
func TestBrowserJoinsThroughTURNTLS(t *testing.T) {
	chromium := chromiumPath(t)
	l := netns.New(t, netns.Unavailable{NotRoot: testservices.SkipHere, Missing: testservices.Missing})
	certFile, keyFile := testservices.Certificate(t, l.HostAddr)
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	host := l.HostAddr.String()
	n := startNode(t, func(c *config.Config) {
		c.HTTPAddr = freeAddrOn(t, l.HostAddr)
		c.PublicURL = "http://" + c.HTTPAddr
		c.TURN = config.TURNConfig{Secret: "e2e-turn-secret-0123456789abcdefghij", Host: host,
			TLSAddr: host + ":0", CertFile: certFile, KeyFile: keyFile,
			RelayIP: "127.0.0.1", TTL: 10 * time.Minute, MaxPerSession: 12, MaxPerClient: 100}
	})
	s := n.newStream()
	publishH264(t, n, s) // a real clip, so that "decoded" means a picture
	mustWatch(t, n, s).waitPackets(t, "video", 30, 10*time.Second)
	l.BlockUDP(t)

	view := startBrowserIn(t, chromium, l, "--ignore-certificate-errors-spki-list="+base64.StdEncoding.EncodeToString(spki[:]))
	if _, err := chromedp.Call(view, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: joinClockJS}); err != nil {
		t.Fatalf("install the join clock: %v", err)
	}
	type joinTimes struct {
		Connected  float64 `json:"connected"`
		FirstFrame float64 `json:"firstFrame"`
	}
	const joins = 3
	for i := range joins {
		if _, err := chromedp.Run(view, chromedp.Navigate(n.URL()+"/watch/"+s.ID+"?relay=1")); err != nil {
			t.Fatalf("join %d: open the viewer page: %v", i, err)
		}
		var got joinTimes
		poll.Until(t, 20*time.Second, fmt.Sprintf("join %d: Chromium decoding video through TURN/TLS", i), func() error {
			v, err := chromedp.Run(view, chromedp.Evaluate[joinTimes](`window.livegateJoin || {}`))
			if err != nil {
				return err
			}
			got = v
			if got.FirstFrame > 0 {
				return nil
			}
			dbg, _ := chromedp.Run(view, chromedp.Evaluate[string](`(async()=>{const o=[window.livegatePC ? window.livegatePC.connectionState : "none"];(await window.livegatePC.getStats()).forEach(r=>{if(r.type==="inbound-rtp")o.push(r.kind+":"+r.packetsReceived+"/"+r.framesReceived+"/"+r.framesDecoded)});return o.join(" ")})()`, chromedp.EvalAwaitPromise))
			return fmt.Errorf("%+v; %s", got, dbg)
		})
		typ, err := chromedp.Run(view, chromedp.Evaluate[string](selectedCandidateJS, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("figures: Chromium join %d through TURN/TLS (%s): connected %.0f ms, first decoded frame %.0f ms after opening the page", i, typ, got.Connected, got.FirstFrame)
		if typ != "relay/tls" {
			t.Errorf("join %d: the browser's selected local candidate is %q, want relay/tls", i, typ)
		}
	}
	if n.TURN.Allocations() == 0 {
		t.Error("the node's TURN server holds no allocation while the browser plays through it")
	}
}
