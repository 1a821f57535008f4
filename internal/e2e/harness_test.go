package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/mediagen"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlstore"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/internal/whipclient"
)

const testAPIKey = "test-operator-key-0123456789"

// testNode is a node under test: one running in the test process (Node set), or the
// real binary (proc set), reached over HTTP either way. Store is the node's database,
// opened by the test for a process, to check what the API does not show.
type testNode struct {
	*testenv.Node
	proc  *testenv.Process
	t     *testing.T
	url   string
	Store store.Store
	key   string // operator API key, when not testAPIKey
}

func startNode(t *testing.T, mutate func(*config.Config)) *testNode {
	t.Helper()
	cfg := testenv.LoopbackConfig(t)
	cfg.APIKey = testAPIKey
	if mutate != nil {
		mutate(&cfg)
	}
	n := testenv.StartNode(t, cfg)
	return &testNode{Node: n, t: t, url: n.URL(), Store: n.Store}
}

// startProcess runs cmd/livegate with the loopback flags, the operator key and extra
// flags and environment. databaseURL, when not empty, is passed with --database-url and
// opened by the test too.
func startProcess(t *testing.T, databaseURL string, extra, env []string) *testNode {
	t.Helper()
	var url string
	p := testenv.StartProcessRetrying(t, func() (string, []string) {
		args, u := testenv.LoopbackArgs(t)
		args = append(args, "--api-key", testAPIKey)
		if databaseURL != "" {
			args = append(args, "--database-url", databaseURL)
		}
		url = u
		return u, append(args, extra...)
	}, env)
	n := &testNode{proc: p, t: t, url: url}
	for i, a := range extra { // a later --api-key wins, in the node as here
		if a == "--api-key" && i+1 < len(extra) {
			n.key = extra[i+1]
		}
	}
	if databaseURL != "" {
		db, err := sqlstore.Open(t.Context(), databaseURL)
		if err != nil {
			t.Fatalf("open the node's database: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		n.Store = db
	}
	return n
}

func (n *testNode) apiKey() string {
	if n.key != "" {
		return n.key
	}
	return testAPIKey
}

// URL is where the node's HTTP API answers.
func (n *testNode) URL() string { return n.url }

// call does a JSON API request with the operator key and decodes the answer into out.
func (n *testNode) call(method, path string, body any, out any) int {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.URL()+path, rd)
	req.Header.Set("Authorization", "Bearer "+n.apiKey())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			n.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

type streamInfo struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	StreamKey string `json:"stream_key"`
	WHIPURL   string `json:"whip_url"`
	Viewers   int    `json:"viewers"`
	Publisher string `json:"publisher"`
	Origin    string `json:"origin"`
	Tracks    []struct {
		Kind, RID string
	} `json:"tracks"`
}

func (n *testNode) newStream() streamInfo {
	n.t.Helper()
	var c struct{ ID string }
	if st := n.call("POST", "/v1/creators", map[string]any{"name": "Amina"}, &c); st != 201 {
		n.t.Fatalf("create creator: %d", st)
	}
	var s streamInfo
	if st := n.call("POST", "/v1/streams", map[string]any{"creator_id": c.ID, "title": "Live from Casablanca"}, &s); st != 201 {
		n.t.Fatalf("create stream: %d", st)
	}
	if s.StreamKey == "" {
		n.t.Fatal("no stream key returned")
	}
	return s
}

func (n *testNode) stream(id string) streamInfo {
	var s streamInfo
	if st := n.call("GET", "/v1/streams/"+id, nil, &s); st != 200 {
		n.t.Fatalf("get stream: %d", st)
	}
	return s
}

// waitState waits until the stream's state is state.
func (n *testNode) waitState(t *testing.T, id, state string, within time.Duration) {
	t.Helper()
	poll.Until(t, within, "stream "+id+" "+state, func() error {
		got := n.stream(id)
		return poll.Want(got.State == state, "it is %s (publisher %s)", got.State, got.Publisher)
	})
}

// waitLive waits until the stream is live: its publisher's media flows.
func (n *testNode) waitLive(t *testing.T, id string) {
	t.Helper()
	n.waitState(t, id, "live", 10*time.Second)
}

func clientAPI(t *testing.T, extra ...interceptor.Factory) *webrtc.API {
	t.Helper()
	api, err := whipclient.NewAPI(whipclient.Options{Interfaces: []string{"lo"}, Loopback: true, Interceptors: extra,
		NoReplayProtection: len(extra) > 0})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// publisher is a WHIP client sending generated video and Opus.
type publisher struct {
	sess   *whipclient.Session
	video  *mediagen.Source
	audio  *mediagen.Source
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func publish(t *testing.T, n *testNode, s streamInfo, videoMime string, keyframeEvery int) *publisher {
	t.Helper()
	video, err := mediagen.NewVideo(videoMime, 300_000)
	if err != nil {
		t.Fatal(err)
	}
	video.KeyframeEvery = keyframeEvery
	return publishSource(t, n, s, video)
}

// publishSource publishes video, set up as the test needs, and 64 kbit/s of Opus to s.
func publishSource(t *testing.T, n *testNode, s streamInfo, video *mediagen.Source) *publisher {
	t.Helper()
	audio, err := mediagen.NewOpus()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, senders, err := whipclient.Publish(ctx, clientAPI(t), n.URL()+"/whip/"+s.ID, s.StreamKey, video.Track, audio.Track)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	p := &publisher{sess: sess, video: video, audio: audio}
	runCtx, runCancel := context.WithCancel(context.Background())
	p.cancel = runCancel
	p.wg.Add(4)
	go func() { defer p.wg.Done(); video.Run(runCtx) }()
	go func() { defer p.wg.Done(); audio.Run(runCtx) }()
	go func() { defer p.wg.Done(); video.ReadRTCP(senders[0]) }()
	go func() { defer p.wg.Done(); audio.ReadRTCP(senders[1]) }()
	t.Cleanup(p.stop)
	return p
}

func (p *publisher) stop() {
	p.cancel()
	p.sess.PC.Close()
	p.wg.Wait()
}

// received is one RTP packet as a viewer saw it.
type received struct {
	seq   uint16
	ts    uint32
	size  int // payload bytes: which simulcast layer, in the tests that size them apart
	index uint64
	key   bool
	ok    bool
	at    time.Time
	head  byte // the payload's first byte (H.264: the NAL unit's header)
	// pic and tl0 are a VP8 or VP9 payload's picture id and TL0PICIDX (-1: none).
	pic, tl0 int
}

// viewer is a WHEP client recording every packet.
type viewer struct {
	sess    *whipclient.Session
	started time.Time
	mu      sync.Mutex
	packets map[string][]received // by kind
	mimes   map[string]string
	closed  chan struct{}
	wg      sync.WaitGroup
	state   atomic.Value
}

func watch(t *testing.T, n *testNode, s streamInfo, extra ...interceptor.Factory) (*viewer, error) {
	t.Helper()
	return watchWithToken(t, n, s, "", extra...)
}

// watchWithToken joins with a playback token (empty for none).
func watchWithToken(t *testing.T, n *testNode, s streamInfo, token string, extra ...interceptor.Factory) (*viewer, error) {
	t.Helper()
	v := &viewer{packets: map[string][]received{}, mimes: map[string]string{}, closed: make(chan struct{}), started: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := whipclient.View(ctx, clientAPI(t, extra...), n.URL()+"/whep/"+s.ID, token, v.record)
	if err != nil {
		return nil, err
	}
	v.sess = sess
	v.state.Store(webrtc.PeerConnectionStateNew)
	// pion calls this on a goroutine per change: two changes close at once.
	var closeOnce sync.Once
	sess.PC.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		v.state.Store(st)
		if st == webrtc.PeerConnectionStateClosed || st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateDisconnected {
			closeOnce.Do(func() { close(v.closed) })
		}
	})
	t.Cleanup(func() { sess.PC.Close(); v.wg.Wait() })
	return v, nil
}

// record keeps every packet of one of the viewer's tracks, until the track ends.
func (v *viewer) record(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	kind := tr.Kind().String()
	v.mu.Lock()
	v.mimes[kind] = tr.Codec().MimeType
	v.mu.Unlock()
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			idx, key, ok := mediagen.Check(tr.Codec().MimeType, pkt.Payload)
			var head byte
			if len(pkt.Payload) > 0 { // padding-only packets have none
				head = pkt.Payload[0]
			}
			pic, tl0 := mediagen.PictureID(tr.Codec().MimeType, pkt.Payload)
			v.mu.Lock()
			v.packets[kind] = append(v.packets[kind], received{seq: pkt.SequenceNumber, ts: pkt.Timestamp, size: len(pkt.Payload), index: idx, key: key, ok: ok, at: time.Now(), head: head, pic: pic, tl0: tl0})
			v.mu.Unlock()
		}
	}()
}

// mustWatchToken watches s with a playback token, failing the test if the join fails.
func mustWatchToken(t *testing.T, n *testNode, s streamInfo, token string) *viewer {
	t.Helper()
	v, err := watchWithToken(t, n, s, token)
	if err != nil {
		t.Fatalf("watch with a playback token: %v", err)
	}
	return v
}

func mustWatch(t *testing.T, n *testNode, s streamInfo, extra ...interceptor.Factory) *viewer {
	t.Helper()
	v, err := watch(t, n, s, extra...)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	return v
}

func (v *viewer) snapshot(kind string) []received {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]received(nil), v.packets[kind]...)
}

// waitPackets waits until the viewer has at least n packets of kind.
func (v *viewer) waitPackets(t *testing.T, kind string, n int, within time.Duration) {
	t.Helper()
	poll.Until(t, within, fmt.Sprintf("%d %s packets at the viewer", n, kind), func() error {
		got := len(v.snapshot(kind))
		return poll.Want(got >= n, "%d so far", got)
	})
}

// checkStream asserts what a viewer of a live stream would: every payload is the
// publisher's, sequence numbers are continuous with the publisher's packets (the SFU's
// rewriting keeps one offset), no packet is missing, and packets came in order.
func checkStream(t *testing.T, name string, pkts []received, wantKeyFirst bool) {
	t.Helper()
	if len(pkts) == 0 {
		t.Fatalf("%s: no packets", name)
	}
	if wantKeyFirst && !pkts[0].key {
		t.Errorf("%s: first video packet is not a keyframe", name)
	}
	offset := pkts[0].seq - uint16(pkts[0].index)
	seen := map[uint64]bool{}
	outOfOrder := 0
	minIdx, maxIdx := pkts[0].index, pkts[0].index
	for i, p := range pkts {
		if !p.ok {
			t.Fatalf("%s: packet %d payload differs from what the publisher sent", name, i)
		}
		if p.seq-uint16(p.index) != offset {
			t.Fatalf("%s: packet %d has seq %d for publisher packet %d; rewriting not continuous", name, i, p.seq, p.index)
		}
		if i > 0 && p.index < pkts[i-1].index {
			outOfOrder++
		}
		seen[p.index] = true
		minIdx, maxIdx = min(minIdx, p.index), max(maxIdx, p.index)
	}
	missing := 0
	for i := minIdx; i <= maxIdx; i++ {
		if !seen[i] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%s: %d of %d packets missing between first and last received", name, missing, maxIdx-minIdx+1)
	}
	if outOfOrder*100 > len(pkts) {
		t.Errorf("%s: %d of %d packets out of order", name, outOfOrder, len(pkts))
	}
}

// lossFactory drops a fraction of incoming RTP before the NACK generator sees it, as a
// lossy network would.
type lossFactory struct {
	rate    float64
	dropped atomic.Int64
	bySSRC  sync.Map // uint32 → *atomic.Int64: packets that got through, per SSRC
}

// got counts the packets that reached the viewer on ssrc.
func (f *lossFactory) got(ssrc uint32) int64 {
	if c, ok := f.bySSRC.Load(ssrc); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

func (f *lossFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &lossInterceptor{f: f, rng: rand.New(rand.NewPCG(1, 2))}, nil
}

type lossInterceptor struct {
	interceptor.NoOp
	f   *lossFactory
	mu  sync.Mutex
	rng *rand.Rand
}

func (l *lossInterceptor) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := r.Read(b, a)
			if err != nil {
				return n, attr, err
			}
			l.mu.Lock()
			drop := l.rng.Float64() < l.f.rate
			l.mu.Unlock()
			if !drop {
				if n >= 12 {
					c, _ := l.f.bySSRC.LoadOrStore(binary.BigEndian.Uint32(b[8:12]), new(atomic.Int64))
					c.(*atomic.Int64).Add(1)
				}
				return n, attr, nil
			}
			l.f.dropped.Add(1)
		}
	})
}

// parallelWait marks a test that spends its time waiting (for a timeout, a grace window,
// a sweep, a stalled API) rather than measuring what a viewer sees: it runs beside the
// others like it, after every serial test, so the suite's time is not the sum of its
// waits. Tests that assert on loss, latency or load stay serial.
func parallelWait(t *testing.T) {
	t.Helper()
	t.Parallel()
}
