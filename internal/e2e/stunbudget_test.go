package e2e

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// A client could make the node a reflector: 5 anonymous viewer sessions, each with one
// PATCH of 32 UDP candidates at a host that never answers, made the node send it 1,280
// STUN packets in 5 s. Now checks to an address the node never heard from share one
// small budget per address, whatever the sessions and clients: a few dozen packets at
// most. A real viewer still connects.
func TestICEChecksToAThirdPartyAreBounded(t *testing.T) {
	parallelWait(t)
	n := startNode(t, nil)
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	n.waitLive(t, s.ID)

	// The third party: 32 UDP ports on 127.0.0.2, counting STUN requests.
	var stunPackets atomic.Int64
	var socks []*net.UDPConn
	var wg sync.WaitGroup
	for range 32 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1500)
			for {
				k, _, err := c.ReadFromUDP(buf)
				if err != nil {
					return
				}
				if k >= 20 && buf[0] < 2 {
					stunPackets.Add(1)
				}
			}
		}()
	}
	t.Cleanup(func() {
		for _, c := range socks {
			c.Close()
		}
		wg.Wait()
	})
	var frag strings.Builder
	frag.WriteString("a=mid:0\r\n")
	for i, c := range socks {
		fmt.Fprintf(&frag, "a=candidate:%d 1 udp 2130706431 127.0.0.2 %d typ host\r\n", i+1, c.LocalAddr().(*net.UDPAddr).Port)
	}
	for i := range 5 {
		r := n.raw("POST", "/whep/"+s.ID, "application/sdp", offerSDP(t, false), nil)
		if r.status != 201 {
			t.Fatalf("anonymous WHEP session %d: %d %s", i, r.status, r.body)
		}
		loc := strings.TrimPrefix(r.header.Get("Location"), n.URL())
		if pr := n.raw("PATCH", loc, "application/trickle-ice-sdpfrag", frag.String(), map[string]string{"If-Match": r.header.Get("ETag")}); pr.status != 204 {
			t.Fatalf("PATCH 32 candidates: %d %s", pr.status, pr.body)
		}
	}
	time.Sleep(8 * time.Second) // about time: how many STUN packets 8 s bring
	got := stunPackets.Load()
	held := scrape(t, n.URL()+"/metrics", "livegate_stun_requests_held_total")
	t.Logf("5 sessions x 32 candidates at one silent host: %d STUN packets sent in 8 s, %v held back", got, held)
	if got == 0 || got > 40 {
		t.Errorf("the silent host got %d STUN packets, want a few dozen at most (and the first ones: ICE still tries)", got)
	}
	if held == 0 {
		t.Error("nothing counted as held back")
	}
	// A real viewer, who answers, is not held back.
	mustWatch(t, n, s).waitPackets(t, "video", 10, 10*time.Second)
}
