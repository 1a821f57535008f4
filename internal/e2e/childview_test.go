package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/mediagen"
	"github.com/livegate/livegate/internal/netns"
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
	Err          string
	JoinMS       int64 // from the OPTIONS request to the connection being up
	AnsweredMS   int64 // from the OPTIONS request to the WHEP answer (gathering included)
	Video, Audio int   // packets received in the watch window (unique sequence numbers)
	// VideoLost counts video packets missing when a later one arrived, each once:
	// what the path lost before any repair (a repair arriving later does not undo it).
	VideoLost     int
	FirstVideoKey bool // the first video packet began a keyframe
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
	var highest uint16 // the highest video sequence number so far (valid after first)
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
				res.FirstVideoKey, first, highest = p.key, false, p.seq
			} else if d := int16(p.seq - highest); p.video && d > 0 {
				res.VideoLost += int(d) - 1
				highest = p.seq
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
