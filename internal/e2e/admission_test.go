package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/testenv"
)

// noCandidateOffer is a real pion viewer offer taken before any candidate was gathered:
// answered, it can never connect.
func noCandidateOffer(t *testing.T) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(offer.SDP, "a=candidate") {
		t.Fatal("offer already has candidates")
	}
	return offer.SDP
}

type audience struct {
	Viewers int `json:"viewers"`
	Unique  int `json:"unique_viewers"`
}

func (n *testNode) audience(streamID string) audience {
	n.t.Helper()
	var a audience
	r := n.raw("GET", "/v1/streams/"+streamID+"/stats", "", "", nil)
	if err := json.Unmarshal([]byte(r.body), &a); err != nil {
		n.t.Fatalf("stats: %d %s", r.status, r.body)
	}
	return a
}

// One client (behind a trusted proxy) floods a live stream with offers that never
// connect: only its pending cap is answered, the rest get 429 with Retry-After; none of
// them counts as a viewer; a real viewer from elsewhere joins during the flood, gets
// media and counts; once the connect timeout has closed the pending peers, the client
// may join again. Once with the in-process session store, once with Redis.
func TestNeverConnectingOffersAreCappedAndUncounted(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testNeverConnecting(t, "") })
	t.Run("redis", func(t *testing.T) { testNeverConnecting(t, testenv.RedisURL(t)) })
}

func testNeverConnecting(t *testing.T, redisURL string) {
	n := startNode(t, func(c *config.Config) {
		c.TrustedProxies = []string{"127.0.0.1/32"}
		c.MaxPendingPerClient = 10
		c.ConnectTimeout = time.Second
		if redisURL != "" {
			c.RedisURL, c.RedisPrefix = redisURL, testenv.UniquePrefix()
		}
	})
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	offer := noCandidateOffer(t)
	flood := func(k int) (created, limited int) {
		t.Helper()
		for i := 0; i < k; i++ {
			r := n.raw("POST", "/whep/"+s.ID, "application/sdp", offer, map[string]string{"X-Forwarded-For": "203.0.113.7"})
			switch r.status {
			case 201:
				created++
			case 429:
				limited++
				if r.header.Get("Retry-After") == "" || r.problem.Type == "" || !strings.HasSuffix(r.problem.Type, "too-many-pending") {
					t.Fatalf("429 without Retry-After or its problem type: %v %s", r.header, r.body)
				}
			default:
				t.Fatalf("offer %d: %d %s", i, r.status, r.body)
			}
		}
		return created, limited
	}
	if created, limited := flood(60); created != 10 || limited != 50 {
		t.Fatalf("60 never-connecting offers from one client: %d answered, %d refused; want 10 and 50", created, limited)
	}
	if a := n.audience(s.ID); a.Viewers != 0 || a.Unique != 0 {
		t.Fatalf("audience after the flood: %+v, want nobody", a)
	}

	v := mustWatch(t, n, s) // another client: the node's own address, no proxy header
	v.waitPackets(t, "video", 5, 5*time.Second)
	deadline := time.Now().Add(3 * time.Second)
	for n.audience(s.ID).Viewers != 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if a := n.audience(s.ID); a.Viewers != 1 || a.Unique != 1 {
		t.Fatalf("audience with one real viewer during the flood: %+v, want 1 and 1", a)
	}

	time.Sleep(1500 * time.Millisecond) // past the connect timeout
	if created, _ := flood(5); created != 5 {
		t.Fatalf("after the connect timeout the client got %d of 5 offers answered, want 5", created)
	}
	if a := n.audience(s.ID); a.Viewers != 1 || a.Unique != 1 {
		t.Fatalf("audience after the pending peers timed out: %+v, want 1 and 1", a)
	}
	metrics := n.URL() + "/metrics"
	if got := scrape(t, metrics, "livegate_viewers_never_connected_total"); got < 10 {
		t.Errorf("livegate_viewers_never_connected_total = %v, want at least 10", got)
	}
	if got := scrape(t, metrics, `livegate_rejections_total{limit="pending"}`); got != 50 {
		t.Errorf(`livegate_rejections_total{limit="pending"} = %v, want 50`, got)
	}
}

// A client that sends its headers and then trickles its body is cut off at the read
// timeout; a stats event stream, long-lived on purpose, outlives both timeouts.
func TestSlowBodyCutOffEventStreamKept(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.ReadTimeout = time.Second
		c.WriteTimeout = time.Second
	})
	s := n.newStream()
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /whep/%s HTTP/1.1\r\nHost: node\r\nContent-Type: application/sdp\r\nContent-Length: 4000\r\n\r\n", s.ID)
	closed := make(chan time.Duration, 1)
	go func() {
		_, _ = io.Copy(io.Discard, conn) // until the node closes the connection
		closed <- time.Since(start)
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case took := <-closed:
			if took > 3*time.Second {
				t.Fatalf("trickling client cut off after %v, want about the 1s read timeout", took)
			}
			goto events
		case <-tick.C:
			if time.Since(start) > 5*time.Second {
				t.Fatal("a client trickling its body is still connected after 5s (read timeout 1s)")
			}
			_, _ = conn.Write([]byte("v"))
		}
	}
events:
	req, _ := http.NewRequest("GET", n.URL()+"/v1/streams/"+s.ID+"/stats/events", nil)
	req.Header.Set("Authorization", "Bearer "+n.apiKey())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan error, 1)
	go func() {
		// The first event comes at once; reading on past both timeouts, the stream must
		// still be open.
		buf := make([]byte, 4096)
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				got <- err
				return
			}
		}
	}()
	select {
	case err := <-got:
		t.Fatalf("event stream ended within 3s (read and write timeouts 1s): %v", err)
	case <-time.After(3 * time.Second):
	}
}
