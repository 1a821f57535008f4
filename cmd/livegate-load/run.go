package main

// The load's phases, in order: check the options, create the stream (and, paid, sell the
// viewers their tickets), publish, ramp the viewers up (with the flood beside it), warm
// up, measure, report.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/mediagen"
	"github.com/livegate/livegate/internal/whipclient"
)

func run(ctx context.Context, o options, out io.Writer) error {
	viewNodes, err := o.check()
	if err != nil {
		return err
	}
	api, err := whipclient.NewAPI(whipclient.Options{Interfaces: []string{"lo"}, Loopback: true, Simulcast: o.simulcast})
	if err != nil {
		return err
	}
	viewAPI, err := whipclient.NewAPI(whipclient.Options{Interfaces: []string{"lo"}, Loopback: true, TWCC: o.twcc})
	if err != nil {
		return err
	}
	l := &load{o: o, out: out, base: strings.TrimRight(o.url, "/"), viewNodes: viewNodes}
	if err := l.createStream(ctx); err != nil {
		return err
	}
	stopPublishing, err := l.publish(ctx, api)
	if err != nil {
		return err
	}
	defer stopPublishing()
	r, err := l.ramp(ctx, viewAPI)
	defer l.closeViewers()
	if err != nil {
		return err
	}
	select {
	case <-time.After(o.warmup):
	case <-ctx.Done():
		return ctx.Err()
	}
	m, err := l.measure(ctx)
	if err != nil {
		return err
	}
	l.report(ctx, r, m)
	return nil
}

// check bounds the options and returns the nodes the viewers join.
func (o options) check() ([]string, error) {
	if err := checkLoopback(o.url); err != nil {
		return nil, err
	}
	if o.viewers < 0 || o.viewers > 5000 {
		return nil, errors.New("--viewers must be 0..5000")
	}
	if o.duration <= 0 || o.duration > 10*time.Minute {
		return nil, errors.New("--duration must be in (0, 10m]")
	}
	if o.flood < 0 || o.flood > 100_000 {
		return nil, errors.New("--flood must be 0..100000")
	}
	switch o.peer {
	case "":
	case peerBroadcastBox:
		if o.serverPID == 0 || o.paid || o.flood > 0 || o.viewOn != "" || o.simulcast {
			return nil, errors.New("--peer broadcast-box needs --server-pid, and takes no --paid, --flood, --view-on or --simulcast")
		}
	default:
		return nil, fmt.Errorf("--peer %q: the peer known is broadcast-box", o.peer)
	}
	if o.viewOn == "" {
		return []string{strings.TrimRight(o.url, "/")}, nil
	}
	var nodes []string
	for _, u := range strings.Split(o.viewOn, ",") {
		if err := checkLoopback(u); err != nil {
			return nil, err
		}
		nodes = append(nodes, strings.TrimRight(strings.TrimSpace(u), "/"))
	}
	return nodes, nil
}

// load is one run's state, shared by its phases.
type load struct {
	o         options
	out       io.Writer
	base      string
	viewNodes []string

	streamID, key string
	viewerTokens  []string // paid: each viewer's, who bought a ticket

	videos []*mediagen.Source
	audio  *mediagen.Source

	stats     []*viewerStats
	sessions  []*whipclient.Session
	joined    atomic.Int64
	measuring atomic.Bool // delays are sampled only while measuring
}

// peerBroadcastBox is Broadcast Box (github.com/Glimesh/broadcast-box): a stream is its
// key, published at /api/whip and watched at /api/whep with the key as bearer token.
const peerBroadcastBox = "broadcast-box"

// whipURL and whepURL are where the stream is published and watched.
func (l *load) whipURL() string {
	if l.o.peer == peerBroadcastBox {
		return l.base + "/api/whip"
	}
	return l.base + "/whip/" + l.streamID
}

func (l *load) whepURL(node string) string {
	if l.o.peer == peerBroadcastBox {
		return node + "/api/whep"
	}
	return node + "/whep/" + l.streamID
}

// createStream creates the test stream and, for a paid run, has every viewer buy a ticket.
func (l *load) createStream(ctx context.Context) error {
	if l.o.peer == peerBroadcastBox {
		l.streamID, l.key = "livegate-load", "livegate-load" // any key opens a stream there
		return nil
	}
	mode := "free"
	if l.o.paid {
		mode = "ticket"
	}
	var err error
	if l.streamID, l.key, err = createStream(ctx, l.base, l.o.apiKey, mode); err != nil {
		return fmt.Errorf("create stream: %w", err)
	}
	if l.o.paid {
		prepStart := time.Now()
		if l.viewerTokens, err = preparePaid(ctx, l.base, l.o, l.streamID); err != nil {
			return fmt.Errorf("prepare paid viewers: %w", err)
		}
		fmt.Fprintf(l.out, "paid: %d viewers bought tickets (%s %d) in %.1fs\n", l.o.viewers, l.o.currency, l.o.price, time.Since(prepStart).Seconds())
	}
	return nil
}

// publish starts the publisher; stop ends it and waits for its goroutines.
func (l *load) publish(ctx context.Context, api *webrtc.API) (stop func(), err error) {
	mime := webrtc.MimeTypeVP8
	if strings.EqualFold(l.o.codec, "h264") {
		mime = webrtc.MimeTypeH264
	}
	pubCtx, cancel := context.WithCancel(ctx)
	pub, videos, audio, err := publish(pubCtx, api, l.whipURL(), l.key, mime, l.o.bitrate, l.o.simulcast)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("publish: %w", err)
	}
	l.videos, l.audio = videos, audio
	var wg sync.WaitGroup
	for _, src := range append(append([]*mediagen.Source(nil), videos...), audio) {
		wg.Add(1)
		go func() { defer wg.Done(); src.Run(pubCtx) }()
	}
	wg.Add(2)
	go func() { defer wg.Done(); mediagen.ReadRTCPLayers(pub.Senders[0], videos) }()
	go func() { defer wg.Done(); audio.ReadRTCP(pub.Senders[1]) }()
	layers := ""
	if l.o.simulcast {
		layers = " in three simulcast layers (q, h, f)"
	}
	fmt.Fprintf(l.out, "publishing %s to stream %s at %d kbit/s video%s + 64 kbit/s Opus\n", l.o.codec, l.streamID, l.o.bitrate/1000, layers)
	return func() {
		// The RTCP readers end when the publisher's connection closes.
		cancel()
		_ = pub.Close(context.WithoutCancel(ctx))
		wg.Wait()
	}, nil
}

// rampResult is what the ramp measured.
type rampResult struct {
	dur, joinsDur              time.Duration
	plis                       uint64
	refused                    int64 // joins answered 503 (a full node)
	flood                      floodResult
	rssBefore, rssPeak, rssEnd float64
}

// ramp joins the viewers at the ramp rate, the flood (when asked for) beside it so the
// joins are measured under it.
func (l *load) ramp(ctx context.Context, viewAPI *webrtc.API) (rampResult, error) {
	o := l.o
	rss := sampleRSS(o.serverPID)
	floods := make(chan floodResult, 1)
	var floodErr error
	if o.flood > 0 {
		go func() {
			res, err := flood(ctx, l.base, l.streamID, o.flood)
			floodErr = err
			floods <- res
		}()
	}
	l.stats = make([]*viewerStats, o.viewers)
	l.sessions = make([]*whipclient.Session, o.viewers)
	var failed, refused atomic.Int64
	var joinWG sync.WaitGroup
	interval := time.Duration(float64(time.Second) / o.rampRate)
	rampStart := time.Now()
	plis0 := totalPLIs(l.videos)
	var firstErr atomic.Value
	for i := 0; i < o.viewers; i++ {
		if ctx.Err() != nil {
			break
		}
		st := &viewerStats{joinStart: time.Now(), node: i % len(l.viewNodes)}
		l.stats[i] = st
		joinWG.Add(1)
		go func(i int) {
			defer joinWG.Done()
			if err := l.join(ctx, viewAPI, i, st); err != nil {
				var e *whipclient.Error
				if errors.As(err, &e) && e.Status == http.StatusServiceUnavailable {
					refused.Add(1) // a full node's answer, not a failure
					return
				}
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}(i)
		if i%10 == 0 || i == o.viewers-1 {
			fmt.Fprintf(l.out, "\rramping: %d/%d started, %d joined, %d failed", i+1, o.viewers, l.joined.Load(), failed.Load())
		}
		// Pace by the clock, not by sleeps, so the ramp rate holds whatever each step costs.
		time.Sleep(time.Until(rampStart.Add(time.Duration(i+1) * interval)))
	}
	joinWG.Wait()
	r := rampResult{dur: time.Since(rampStart)}
	if o.flood > 0 {
		r.flood = <-floods
		if floodErr != nil {
			return r, floodErr
		}
	}
	r.rssBefore, r.rssPeak, r.rssEnd = rss.Stop()
	// Keyframe requests that reached the encoder while viewers joined, and until every
	// joined viewer has video (or a second has passed).
	for wait := time.Now().Add(time.Second); time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
		all := true
		for i, st := range l.stats {
			if st != nil && l.sessions[i] != nil && st.firstVideo.Load() == 0 {
				all = false
			}
		}
		if all {
			break
		}
	}
	r.joinsDur = time.Since(rampStart)
	r.plis = totalPLIs(l.videos) - plis0
	r.refused = refused.Load()
	fmt.Fprintf(l.out, "\rramping: %d/%d joined, %d refused (503), %d failed in %.1fs            \n", l.joined.Load(), o.viewers, r.refused, failed.Load(), time.Since(rampStart).Seconds())
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(l.out, "first join error: %v\n", e)
	}
	return r, nil
}

// join connects viewer i and counts what it receives until its connection closes.
func (l *load) join(ctx context.Context, viewAPI *webrtc.API, i int, st *viewerStats) error {
	jctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	token := ""
	if l.o.peer == peerBroadcastBox {
		token = l.key
	}
	if l.o.paid {
		var err error
		if token, err = playbackToken(jctx, l.base, l.streamID, l.viewerTokens[i]); err != nil {
			return err
		}
	}
	s, err := whipclient.View(jctx, viewAPI, l.whepURL(l.viewNodes[st.node]), token, func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		isVideo := tr.Kind() == webrtc.RTPCodecTypeVideo
		buf := make([]byte, 1500)
		var h rtp.Header
		for k := 0; ; k++ {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if isVideo && st.firstVideo.Load() == 0 {
				st.firstVideo.CompareAndSwap(0, time.Now().UnixNano())
			}
			// Delays are sampled in the measured window only: a join starts with the
			// cached keyframe's packets, seconds old by design.
			if isVideo && !l.o.simulcast && k%4 == 0 && l.measuring.Load() {
				st.sampleDelay(&h, buf[:n], tr.Codec().MimeType, l.videos[0])
			}
			st.packets.Add(1)
			st.bytes.Add(uint64(n))
			if isVideo && n >= 4 {
				st.video.Add(1)
				st.count(uint16(buf[2])<<8 | uint16(buf[3]))
			}
		}
	})
	if err != nil {
		return err
	}
	l.sessions[i] = s
	st.sess = s
	l.joined.Add(1)
	return nil
}

func (l *load) closeViewers() {
	for _, s := range l.sessions {
		if s != nil {
			s.PC.Close()
		}
	}
}

// window is what the measured window saw.
type window struct {
	elapsed                time.Duration
	cpu, forwarded         float64 // server CPU seconds and packets forwarded in the window
	joins, firsts, connect []float64
	rates                  []float64
	seen, expected         uint64    // unique video packets received, and sent
	worstLoss              float64   // the worst single viewer's video loss, percent
	dark, viewerSeconds    int       // seconds a viewer got no video (shed, or starved), of all
	published              uint64    // video packets the publisher sent in the window
	delivered              []float64 // per viewer, its video packets over the publisher's in the window
	deliveredLit           []float64 // the same, of viewers never without video in the window
	nodeCPU0, nodeFwd0     map[string]float64
}

// measure counts, over --duration, what the viewers receive and what the server spends.
func (l *load) measure(ctx context.Context) (window, error) {
	cpu0, err := serverCPU(ctx, l.base, l.o.serverPID)
	if err != nil {
		return window{}, err
	}
	fwd0, _ := metric(ctx, l.base, "livegate_packets_forwarded_total")
	var m window
	m.nodeCPU0, m.nodeFwd0 = fleetCounters(ctx, l.base, l.viewNodes)
	bytes0, packets0 := make([]uint64, len(l.stats)), make([]uint64, len(l.stats))
	seen0 := make([]uint64, len(l.stats))
	video0 := make([]uint64, len(l.stats))
	exp0 := make([]uint64, len(l.stats))
	for i, st := range l.stats {
		if st != nil {
			bytes0[i], packets0[i] = st.bytes.Load(), st.packets.Load()
			seen0[i], exp0[i] = st.videoCounts()
			video0[i] = st.video.Load()
		}
	}
	pub0 := totalSent(l.videos)
	t0 := time.Now()
	l.measuring.Store(true)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := t0.Add(l.o.duration)
	lastVideo := make([]uint64, len(l.stats))
	dark := make([]int, len(l.stats))
	for i, st := range l.stats {
		if st != nil {
			lastVideo[i] = st.video.Load()
		}
	}
	stepped := l.o.stepBitrate == 0
loop:
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			fmt.Fprintf(l.out, "\rmeasuring: %2.0fs/%v", time.Since(t0).Seconds(), l.o.duration)
			if !stepped && time.Since(t0) >= l.o.stepAt {
				stepped = true
				for _, v := range l.videos {
					v.SetPacketsPerSecond(v.PacketsPerSecond * l.o.stepBitrate / l.o.bitrate)
				}
				fmt.Fprintf(l.out, " publisher now at %d kbit/s\n", l.o.stepBitrate/1000)
			}
			// Seconds in which a joined viewer got no video at all: shed to audio only by
			// a saturated node, or starved.
			for i, st := range l.stats {
				if st == nil || l.sessions[i] == nil {
					continue
				}
				v := st.video.Load()
				if v == lastVideo[i] {
					m.dark++
					dark[i]++
				}
				m.viewerSeconds++
				lastVideo[i] = v
			}
		}
	}
	m.elapsed = time.Since(t0)
	m.published = totalSent(l.videos) - pub0
	// An interrupt ends the window early; what it measured is still read and reported.
	final := context.WithoutCancel(ctx)
	cpu1, err := serverCPU(final, l.base, l.o.serverPID)
	if err != nil {
		return m, err
	}
	fwd1, _ := metric(final, l.base, "livegate_packets_forwarded_total")
	m.cpu, m.forwarded = cpu1-cpu0, fwd1-fwd0
	fmt.Fprintln(l.out)

	for i, st := range l.stats {
		if st == nil || l.sessions[i] == nil {
			continue
		}
		if f := st.firstVideo.Load(); f != 0 {
			at := time.Unix(0, f)
			m.joins = append(m.joins, ms(at.Sub(st.joinStart)))
			m.firsts = append(m.firsts, ms(at.Sub(st.sess.Answered)))
		}
		if c := st.sess.ConnectedAt(); !c.IsZero() {
			m.connect = append(m.connect, ms(c.Sub(st.joinStart)))
		}
		m.rates = append(m.rates, float64(st.bytes.Load()-bytes0[i])*8/m.elapsed.Seconds()/1000)
		if l.o.peer != "" { // no counter of its own: what reached the viewers
			m.forwarded += float64(st.packets.Load() - packets0[i])
		}
		if m.published > 0 && !l.o.simulcast {
			d := 100 * float64(st.video.Load()-video0[i]) / float64(m.published)
			m.delivered = append(m.delivered, d)
			if dark[i] == 0 {
				m.deliveredLit = append(m.deliveredLit, d)
			}
		}
		s, e := st.videoCounts()
		m.seen += s - seen0[i]
		m.expected += e - exp0[i]
		if e > exp0[i] && s-seen0[i] < e-exp0[i] {
			m.worstLoss = max(m.worstLoss, 100*float64((e-exp0[i])-(s-seen0[i]))/float64(e-exp0[i]))
		}
	}
	return m, nil
}

func totalSent(srcs []*mediagen.Source) uint64 {
	var n uint64
	for _, s := range srcs {
		n += s.Sent()
	}
	return n
}

// report prints the run's figures.
func (l *load) report(ctx context.Context, r rampResult, m window) {
	o, out := l.o, l.out
	loss := 0.0
	if m.expected > 0 && m.seen < m.expected {
		loss = 100 * float64(m.expected-m.seen) / float64(m.expected)
	}
	fmt.Fprintf(out, "\n== livegate-load report ==\n")
	fmt.Fprintf(out, "viewers connected      %d of %d (ramp %.1fs); %d refused (503)\n", l.joined.Load(), o.viewers, r.dur.Seconds(), r.refused)
	what := "WHEP POST to first video packet"
	if o.paid {
		what = "POST /access to first video packet"
	}
	fmt.Fprintf(out, "join time (ms)         p50 %.0f  p99 %.0f  max %.0f   (%s)\n", pct(m.joins, 50), pct(m.joins, 99), pct(m.joins, 100), what)
	fmt.Fprintf(out, "connect time (ms)      p50 %.0f  p99 %.0f  max %.0f   (WHEP POST to DTLS up)\n", pct(m.connect, 50), pct(m.connect, 99), pct(m.connect, 100))
	fmt.Fprintf(out, "first video (ms)       p50 %.1f  p99 %.1f  max %.1f   (WHEP answer to first video packet)\n", pct(m.firsts, 50), pct(m.firsts, 99), pct(m.firsts, 100))
	fmt.Fprintf(out, "keyframe requests      %d at the publisher in %.1fs of joins (%.2f/s)\n", r.plis, r.joinsDur.Seconds(), float64(r.plis)/r.joinsDur.Seconds())
	fmt.Fprintf(out, "received kbit/s/viewer mean %.0f  min %.0f\n", mean(m.rates), pct(m.rates, 0))
	fmt.Fprintf(out, "video loss             %.3f%%  (%d of %d packets); worst viewer %.3f%%\n", loss, m.expected-min(m.seen, m.expected), m.expected, m.worstLoss)
	fmt.Fprintf(out, "seconds without video  %d of %d viewer-seconds\n", m.dark, m.viewerSeconds)
	if len(m.delivered) > 0 {
		// Below 100%, the server is behind: a backlog, delay growing, though no packet is
		// yet missing.
		fmt.Fprintf(out, "video delivered        mean %.1f%%  min %.1f%% of what the publisher sent in the window\n", mean(m.delivered), pct(m.delivered, 0))
		if len(m.deliveredLit) < len(m.delivered) {
			fmt.Fprintf(out, "  never without video  %d viewers: mean %.1f%%  min %.1f%%\n", len(m.deliveredLit), mean(m.deliveredLit), pct(m.deliveredLit, 0))
		}
	}
	fmt.Fprintf(out, "forwarded packets/s    %.0f\n", m.forwarded/m.elapsed.Seconds())
	// Below what --bitrate (or --step-bitrate) asks, the load's own core is short and the
	// figures above are the load generator's, not the server's.
	fmt.Fprintf(out, "published video pkt/s  %.0f\n", float64(m.published)/m.elapsed.Seconds())
	if m.forwarded > 0 {
		fmt.Fprintf(out, "server CPU             %.2f s in %.1f s (%.0f%% of a core)\n", m.cpu, m.elapsed.Seconds(), 100*m.cpu/m.elapsed.Seconds())
		fmt.Fprintf(out, "server CPU per packet  %.2f µs  (%.2f CPU s per million forwarded packets)\n", m.cpu/m.forwarded*1e6, m.cpu/m.forwarded*1e6)
	}
	if o.flood > 0 {
		fmt.Fprintf(out, "flood                  %d never-connecting offers from %s in %.1fs: %d answered, %d refused (429), %d other\n",
			o.flood, floodAddr, r.flood.took.Seconds(), r.flood.answered, r.flood.refused, r.flood.other)
		fmt.Fprintf(out, "audience after flood   viewers %d, unique %d (real viewers joined: %d)\n",
			r.flood.audience.Viewers, r.flood.audience.Unique, l.joined.Load())
	}
	if o.serverPID != 0 {
		fmt.Fprintf(out, "server RSS (MB)        %.0f before the joins, peak %.0f, %.0f after\n", r.rssBefore, r.rssPeak, r.rssEnd)
	}
	if o.viewOn != "" {
		fleetReport(ctx, out, fleetRun{origin: l.base, nodes: l.viewNodes, stats: l.stats, sessions: l.sessions, elapsed: m.elapsed,
			streamPPS: streamRate(l.videos, l.audio), cpu0: m.nodeCPU0, fwd0: m.nodeFwd0})
	}
}
