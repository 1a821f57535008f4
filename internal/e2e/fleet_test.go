package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
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
	publish(t, a, s, webrtc.MimeTypeVP8, 30)

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
	time.Sleep(2 * time.Second)
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
}
