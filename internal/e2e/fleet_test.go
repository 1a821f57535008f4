package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/notify"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/testenv"
)

// fleetOf starts n nodes that share one Redis and one PostgreSQL, each with its own id,
// ports and public URL, and nothing else in common: that is a fleet.
func fleetOf(t *testing.T, n int, mutate func(*config.Config)) []*testNode {
	t.Helper()
	redisURL, prefix, pg := testenv.RedisURL(t), testenv.UniquePrefix(), testenv.PostgresURL(t)
	var nodes []*testNode
	for i := range n {
		nodes = append(nodes, startNode(t, func(c *config.Config) {
			c.RedisURL, c.RedisPrefix, c.DatabaseURL = redisURL, prefix, pg
			c.NodeID = fmt.Sprintf("node-%c", 'a'+i)
			if mutate != nil {
				mutate(c)
			}
		}))
	}
	return nodes
}

// A publisher on node A and viewers on nodes B and C: every viewer gets the stream
// without loss, and A sends one copy per edge, not one per viewer.
func TestFleetRelaysToEdges(t *testing.T) {
	fleet := fleetOf(t, 3, nil)
	a, b, c := fleet[0], fleet[1], fleet[2]
	s := a.newStream()
	pub := publish(t, a, s, webrtc.MimeTypeVP8, 30)

	var viewers []*viewer
	for i := range 20 {
		edge := b
		if i%2 == 1 {
			edge = c
		}
		v := mustWatch(t, edge, s)
		viewers = append(viewers, v)
	}
	for _, v := range viewers {
		v.waitPackets(t, "video", 10, 10*time.Second)
	}
	before := scrape(t, a.URL()+"/metrics", "livegate_packets_forwarded_total")
	time.Sleep(2 * time.Second) // about time: the forwarding rate over 2 s
	after := scrape(t, a.URL()+"/metrics", "livegate_packets_forwarded_total")
	for i, v := range viewers {
		checkStream(t, fmt.Sprintf("viewer %d", i), v.snapshot("video"), true)
		checkStream(t, fmt.Sprintf("viewer %d audio", i), v.snapshot("audio"), false)
	}
	// The publisher sends about 30 video packets a second at 300 kbit/s... the count
	// does not matter: per second the origin forwards twice the publisher's rate (two
	// edges), where 20 viewers on it would take twenty times.
	perSecond := (after - before) / 2
	var published float64
	for _, v := range viewers[:1] {
		pk := v.snapshot("video")
		au := v.snapshot("audio")
		window := pk[len(pk)-1].at.Sub(pk[0].at).Seconds()
		published = float64(len(pk))/window + float64(len(au))/window
	}
	copies := perSecond / published
	t.Logf("origin forwards %.0f packets/s for a stream of %.0f packets/s: %.2f copies", perSecond, published, copies)
	if copies < 1.5 || copies > 2.5 {
		t.Errorf("the origin sends %.2f copies of the stream for 2 edges and 20 viewers, want 2", copies)
	}
	for _, edge := range []*testNode{b, c} {
		if got := scrape(t, edge.URL()+"/metrics", "livegate_subscribers"); got != 10 {
			t.Errorf("edge %s has %v viewers, want 10", edge.URL(), got)
		}
	}
	// Twenty joins on two edges asked each edge's cache for a keyframe, the edges asked
	// the origin's, and the encoder heard of it at most once per throttle interval.
	if plis := pub.video.PLIs(); plis > 6 {
		t.Errorf("the encoder got %d keyframe requests for 20 viewers joining on edges", plis)
	}
}

// processFleet is what livegate processes of one fleet share: Redis and PostgreSQL.
type processFleet struct {
	t                    *testing.T
	redisURL, prefix, pg string
	extra                []string
}

func newProcessFleet(t *testing.T, extra ...string) *processFleet {
	return &processFleet{t: t, redisURL: testenv.RedisURL(t), prefix: testenv.UniquePrefix(), pg: testenv.PostgresURL(t), extra: extra}
}

// start runs one more node of the fleet, with only the flags a fleet needs.
func (f *processFleet) start(id string) *testNode {
	f.t.Helper()
	return startProcess(f.t, f.pg, f.flags(id), nil)
}

// flags are what a node of the fleet is started with, beside the database: the shared
// Redis and its key prefix, its id, and the fleet's extra flags.
func (f *processFleet) flags(id string) []string {
	return append([]string{"--redis-url", f.redisURL, "--redis-prefix", f.prefix, "--node-id", id}, f.extra...)
}

// Nodes die: an edge killed outright leaves its viewers free to rejoin on another node
// (their old sessions expire); the origin killed leaves the edges' viewers attached,
// waiting; the encoder reconnecting to the edge (never sent back to the dead origin)
// makes it the origin, its viewers carry on, and a new edge pulls from it.
func TestFleetSurvivesNodeLoss(t *testing.T) {
	fleet := newProcessFleet(t, "--session-ttl", "3s", "--reconnect-grace", "30s")
	a, b, c := fleet.start("node-a"), fleet.start("node-b"), fleet.start("node-c")
	s := a.newStream()
	publish(t, a, s, webrtc.MimeTypeVP8, 30)
	var onB, onC []*viewer
	for range 3 {
		onB = append(onB, mustWatch(t, b, s))
		onC = append(onC, mustWatch(t, c, s))
	}
	for _, v := range append(append([]*viewer{}, onB...), onC...) {
		v.waitPackets(t, "video", 10, 10*time.Second)
	}
	if got := a.audience(s.ID).Viewers; got != 6 {
		t.Fatalf("audience %d, want 6", got)
	}

	// An edge dies: its viewers' sessions expire; they rejoin on B.
	c.proc.Kill()
	poll.Until(t, 10*time.Second, "the audience of 3 once the edge with 3 viewers died", func() error {
		return poll.Want(a.audience(s.ID).Viewers == 3, "audience %d", a.audience(s.ID).Viewers)
	})
	for range 3 {
		v := mustWatch(t, b, s)
		v.waitPackets(t, "video", 10, 10*time.Second)
		onB = append(onB, v)
	}
	for i, v := range onB {
		checkStream(t, fmt.Sprintf("viewer %d on B", i), v.snapshot("video"), true)
	}

	// The origin dies: B's viewers stay, the stream waiting for its encoder.
	a.proc.Kill()
	poll.Until(t, 5*time.Second, "the stream on B waiting for its encoder", func() error {
		got := b.stream(s.ID)
		return poll.Want(got.State == "live" && got.Publisher == "reconnecting", "state %q publisher %q", got.State, got.Publisher)
	})

	// The encoder reconnects, to B: the stream resumes for the viewers there; a new edge
	// D pulls it from B.
	counts := make([]int, len(onB))
	for i, v := range onB {
		counts[i] = len(v.snapshot("video"))
	}
	publish(t, b, s, webrtc.MimeTypeVP8, 30)
	for i, v := range onB {
		v.waitPackets(t, "video", counts[i]+30, 10*time.Second)
		select {
		case <-v.closed:
			t.Errorf("viewer %d on B was let go while the stream came back", i)
		default:
		}
	}
	if got := b.stream(s.ID); got.Origin != "node-b" || got.Publisher != "connected" {
		t.Errorf("stream on B: origin %q publisher %q, want node-b and connected", got.Origin, got.Publisher)
	}
	d := fleet.start("node-d")
	v := mustWatch(t, d, s)
	v.waitPackets(t, "video", 10, 10*time.Second)
	if got := d.stream(s.ID); got.Origin != "node-b" {
		t.Errorf("stream's origin seen from D: %q, want node-b", got.Origin)
	}
}

// SIGTERM on an edge: it leaves the registry at once, sends new viewers to another node
// (307, which WHEP clients follow), keeps its viewers' media flowing for the grace
// period, and then closes.
func TestFleetDrain(t *testing.T) {
	fleet := newProcessFleet(t, "--shutdown-grace", "3s", "--webhook-allow-networks", "127.0.0.0/8")
	a, b, c := fleet.start("node-a"), fleet.start("node-b"), fleet.start("node-c")
	recv := newHookReceiver(t, "")
	recv.subscribe(t, a, notify.SessionEnded)
	s := a.newStream()
	publish(t, a, s, webrtc.MimeTypeVP8, 30)
	v := mustWatch(t, b, s)
	v.waitPackets(t, "video", 10, 10*time.Second)

	b.proc.Terminate()
	drainStart := time.Now()
	poll.Until(t, time.Second, "node-b out of the registry after SIGTERM", func() error {
		var reg struct {
			Nodes []struct{ ID string }
		}
		a.call("GET", "/v1/admin/nodes", nil, &reg)
		inB := false
		for _, n := range reg.Nodes {
			inB = inB || n.ID == "node-b"
		}
		return poll.Want(!inB && len(reg.Nodes) == 2, "the registry: %+v", reg.Nodes)
	})

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Post(b.URL()+"/whep/"+s.ID, "application/sdp", strings.NewReader(noCandidateOffer(t)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusTemporaryRedirect ||
		!(strings.HasPrefix(loc, a.URL()) || strings.HasPrefix(loc, c.URL())) {
		t.Fatalf("WHEP on a draining node: %d Location %q, want 307 to node-a or node-c", resp.StatusCode, loc)
	}
	moved := mustWatch(t, b, s) // a WHEP client follows the 307
	moved.waitPackets(t, "video", 10, 10*time.Second)

	// The viewer on B keeps its media through the grace period, then B closes.
	time.Sleep(2 * time.Second) // about time: 2 s into the 3 s grace
	if last := v.snapshot("video"); time.Since(last[len(last)-1].at) > 500*time.Millisecond {
		t.Fatalf("a viewer of the draining node got no video for %v, 2s into a 3s grace", time.Since(last[len(last)-1].at))
	}
	select {
	case <-b.proc.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("node-b still running 10s after SIGTERM with a 3s grace")
	}
	if took := time.Since(drainStart); took < 3*time.Second {
		t.Errorf("node-b exited %v after SIGTERM, before its 3s grace", took)
	}
	checkStream(t, "viewer of the draining node", v.snapshot("video"), true)

	// The drained node ended its viewer's session before closing its stores: the fleet
	// lists only the viewer that moved, and the platform hears session.ended, at once
	// rather than after the session's TTL.
	poll.Until(t, 3*time.Second, "the drained viewer's session ended in the fleet's store", func() error {
		var list struct{ Sessions []struct{ ID, Node string } }
		a.call("GET", "/v1/admin/sessions?stream="+s.ID, nil, &list)
		return poll.Want(len(list.Sessions) == 1, "sessions %+v", list.Sessions)
	})
	poll.Until(t, 10*time.Second, "session.ended of the drained viewer at the platform", func() error {
		for _, e := range recv.of(notify.SessionEnded) {
			if strings.Contains(string(e.Data), "node stopping") {
				return nil
			}
		}
		return fmt.Errorf("%d session.ended events, none for a node stopping", len(recv.of(notify.SessionEnded)))
	})
}

// Every simulcast layer travels to an edge: its viewers get the layer they ask for, and
// layers the encoder starts late reach them too (the edge pulls again for them).
func TestFleetRelaysEveryLayer(t *testing.T) {
	parallelWait(t)
	for _, late := range []time.Duration{0, 4 * time.Second, 8 * time.Second} {
		t.Run(fmt.Sprintf("layers after %v", late), func(t *testing.T) {
			fleet := fleetOf(t, 2, nil)
			a, b := fleet[0], fleet[1]
			s := a.newStream()
			publishSimulcastAfter(t, a, s, late)
			low := watchThrough(t, b, s, nil, "?max_layer=low")
			top := watchThrough(t, b, s, nil, "")
			low.waitPackets(t, "video", 30, 10*time.Second)
			top.waitLayer(t, "f", 30*time.Second)
			low.waitPackets(t, "video", len(low.snapshot("video"))+30, 5*time.Second) // low keeps its layer while top has f
			for _, p := range low.snapshot("video") {
				if l := layerOf(p); l != "q" {
					t.Fatalf("an edge viewer pinned to low got layer %q", l)
				}
			}
			checkSwitches(t, top.snapshot("video"))
			if tracks := b.stream(s.ID).Tracks; len(tracks) != 4 {
				t.Errorf("the edge's room has %d tracks, want audio and three layers: %+v", len(tracks), tracks)
			}
		})
	}
}

// A node at its viewer limit sends the next viewer to a node with room (307) instead of
// refusing it; when no node has room, it is 503 as on a single node.
func TestFullNodeSendsViewersElsewhere(t *testing.T) {
	fleet := fleetOf(t, 2, func(c *config.Config) { c.MaxViewers = 1 })
	a, b := fleet[0], fleet[1]
	s := a.newStream()
	publish(t, a, s, webrtc.MimeTypeVP8, 30)
	first := mustWatch(t, a, s)
	first.waitPackets(t, "video", 5, 5*time.Second)

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Post(a.URL()+"/whep/"+s.ID, "application/sdp", strings.NewReader(noCandidateOffer(t)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, b.URL()+"/whep/") {
		t.Fatalf("a full node answered %d Location %q, want 307 to %s", resp.StatusCode, loc, b.URL())
	}
	second := mustWatch(t, a, s) // follows to B
	second.waitPackets(t, "video", 5, 5*time.Second)
	// B is full now too (its one viewer), as the registry learns within a heartbeat.
	poll.Until(t, 5*time.Second, "a join refused with every node full", func() error {
		r := a.raw("POST", "/whep/"+s.ID, "application/sdp", noCandidateOffer(t), nil)
		if r.status == http.StatusServiceUnavailable {
			expectProblem(t, "the whole fleet full", r, 503, "node-at-capacity")
			return nil
		}
		return fmt.Errorf("the join got %d %s", r.status, r.body)
	})
}

// An edge stops pulling a stream a short while after its last viewer left: the origin
// then serves no relay to it.
func TestEdgeStopsPullingWhenIdle(t *testing.T) {
	parallelWait(t)
	fleet := fleetOf(t, 2, func(c *config.Config) { c.RelayIdle = time.Second })
	a, b := fleet[0], fleet[1]
	s := a.newStream()
	publish(t, a, s, webrtc.MimeTypeVP8, 30)
	v := mustWatch(t, b, s)
	v.waitPackets(t, "video", 5, 5*time.Second)
	if got := scrape(t, a.URL()+"/metrics", "livegate_subscribers"); got != 1 {
		t.Fatalf("the origin serves %v connections with one edge pulling, want 1 (the relay)", got)
	}
	v.sess.PC.Close()
	poll.Until(t, 5*time.Second, "the relay stopped once the edge's last viewer left (relay idle 1s)", func() error {
		subs, room := scrape(t, a.URL()+"/metrics", "livegate_subscribers"), b.SFU.Room(s.ID) != nil
		return poll.Want(subs == 0 && !room, "origin connections %v, edge room %v", subs, room)
	})
	// A viewer coming back makes the edge pull again.
	again := mustWatch(t, b, s)
	again.waitPackets(t, "video", 5, 5*time.Second)
}

// A stream whose origin died and whose encoder never came back is ended by the fleet
// once the reconnect grace window has passed: its state says ended, on every node.
func TestFleetEndsAStreamWhoseOriginIsGone(t *testing.T) {
	parallelWait(t)
	fleet := newProcessFleet(t, "--reconnect-grace", "2s")
	a, b := fleet.start("node-a"), fleet.start("node-b")
	s := a.newStream()
	publish(t, a, s, webrtc.MimeTypeVP8, 30)
	v := mustWatch(t, b, s)
	v.waitPackets(t, "video", 10, 10*time.Second)
	a.proc.Kill()
	killed := time.Now()
	// The grace counts from the origin's last heartbeat, which a sweep (each heartbeat)
	// sees missed twice: the stream ends at the grace, or at that sight (3 s) when the
	// grace is shorter, not when the dead node's entry lapses.
	b.waitState(t, s.ID, "ended", 10*time.Second)
	t.Logf("ended %v after its origin died", time.Since(killed).Round(100*time.Millisecond))
}

// The origin dies and its encoder reconnects at once, to one of the edges: that edge
// becomes the origin (the encoder is not sent back to the dead node), the other edge
// notices its relay went silent and pulls from the new origin, and every viewer, still
// attached, gets the show again from a keyframe. The time from the encoder's new POST to
// each edge's first packet is logged (docs/BENCHMARKS.md has the figures).
func TestOriginFailover(t *testing.T) {
	fleet := newProcessFleet(t, "--reconnect-grace", "20s")
	a, b, c := fleet.start("node-a"), fleet.start("node-b"), fleet.start("node-c")
	s := a.newStream()
	publish(t, a, s, webrtc.MimeTypeVP8, 30)
	viewers := map[string][]*viewer{}
	for name, edge := range map[string]*testNode{"B": b, "C": c} {
		for range 2 {
			v := mustWatch(t, edge, s)
			v.waitPackets(t, "video", 10, 10*time.Second)
			viewers[name] = append(viewers[name], v)
		}
	}

	a.proc.Kill()
	posted := time.Now()
	publish(t, c, s, webrtc.MimeTypeVP8, 30) // the encoder's new POST lands on C
	t.Logf("the encoder's POST to C answered %v after the origin died", time.Since(posted).Round(time.Millisecond))
	for node, vs := range viewers {
		for i, v := range vs {
			var back time.Time
			poll.Until(t, 10*time.Second, fmt.Sprintf("the show back for viewer %d on %s", i, node), func() error {
				for _, p := range v.snapshot("video") {
					if p.at.After(posted) && p.key {
						back = p.at
						return nil
					}
				}
				return errors.New("no keyframe since the encoder's new POST")
			})
			t.Logf("viewer %d on %s: a keyframe %v after the encoder's new POST", i, node, back.Sub(posted).Round(time.Millisecond))
			select {
			case <-v.closed:
				t.Errorf("viewer %d on %s was let go", i, node)
			default:
			}
		}
	}
	if got := b.stream(s.ID); got.Origin != "node-c" {
		t.Errorf("origin seen from B: %q, want node-c", got.Origin)
	}
}
