package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/netns"
	"github.com/livegate/livegate/internal/testservices"
)

// weakLinkNode is a node that also serves a viewer in l's namespace directly (media on
// the link's host address as well as loopback), for a publisher on loopback.
func weakLinkNode(t *testing.T, l *netns.Link) *testNode {
	t.Helper()
	return startNode(t, func(c *config.Config) {
		c.HTTPAddr = freeAddrOn(t, l.HostAddr)
		c.PublicURL = "http://" + c.HTTPAddr
		c.Interfaces = []string{"lo", l.HostIf}
		c.RemoteNetworks = append(c.RemoteNetworks, l.Prefix.String())
	})
}

// layersOf is the layer of each second, for a failure message.
func layersOf(secs []second) string {
	var b strings.Builder
	for i, s := range secs {
		fmt.Fprintf(&b, "%d:%s/%d ", i, s.Layer, s.WholeFrames)
	}
	return b.String()
}

// A viewer behind a real 700 kbit/s link (tc tbf, 250 ms of queue) settles on the middle
// layer (500 kbit/s), which fits, and stays there: the node finds out that the top
// layer does not fit by probing with padding, never by sending it, so the picture does
// not freeze. Seconds with fewer than 20 whole frames (of 30) are stalls.
func TestWeakViewerSettlesWithoutFreezing(t *testing.T) {
	l := netns.New(t, netns.Unavailable{NotRoot: testservices.SkipHere, Missing: testservices.Missing})
	n := weakLinkNode(t, l)
	s := n.newStream()
	publishSimulcast(t, n, s)
	l.ShapeDown(t, "700kbit", "16kbit", "250ms")

	const watch = 20 * time.Second
	res := runChildViewer(t, l, childView{Endpoint: n.URL() + "/whep/" + s.ID, Iface: l.PeerIf, TWCC: true, Watch: watch, Connect: 10 * time.Second})
	if res.Err != "" {
		t.Fatalf("weak viewer: %s", res.Err)
	}
	t.Logf("second:layer/whole frames: %s", layersOf(res.Seconds))
	settled := -1
	for i, sec := range res.Seconds {
		if sec.Layer == "h" && settled < 0 {
			settled = i
		}
		if sec.Layer == "f" {
			t.Errorf("second %d on the top layer (1.2 Mbit/s) through a 700 kbit/s link", i)
		}
	}
	if settled < 0 || settled > 5 {
		t.Fatalf("on the middle layer from second %d, want within 5 s", settled)
	}
	stalls := 0
	for i := settled + 1; i < len(res.Seconds); i++ {
		if res.Seconds[i].WholeFrames < 20 {
			stalls++
		}
		if res.Seconds[i].Layer != "h" {
			t.Errorf("second %d on layer %q after settling on h", i, res.Seconds[i].Layer)
		}
	}
	if stalls > 0 {
		t.Errorf("%d stalled seconds (< 20 whole frames) after settling", stalls)
	}
}
