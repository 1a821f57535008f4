// Command livegate-load measures a livegate node: one WHIP publisher of generated video
// and Opus, then N WHEP viewers, and a report of join times, received bitrate, loss and
// the server's CPU cost per forwarded packet. It only ever targets loopback addresses, and
// its counts and duration are bounded.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/mediagen"
	"github.com/livegate/livegate/internal/whipclient"
)

type options struct {
	url, apiKey string
	viewers     int
	bitrate     int
	duration    time.Duration
	rampRate    float64
	serverPID   int
	codec       string
	warmup      time.Duration
	paid        bool
	country     string
	currency    string
	price       int64
	simulcast   bool
	twcc        bool
	flood       int
	viewOn      string
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "livegate node (loopback only)")
	flag.StringVar(&o.apiKey, "api-key", os.Getenv("LIVEGATE_API_KEY"), "operator API key, to create the test stream")
	flag.IntVar(&o.viewers, "viewers", 50, "WHEP viewers to connect (at most 5000)")
	flag.IntVar(&o.bitrate, "bitrate", 1_500_000, "publisher video bitrate in bit/s (plus 64 kbit/s Opus)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measurement time after every viewer joined (at most 10m)")
	flag.Float64Var(&o.rampRate, "ramp", 50, "viewer joins per second")
	flag.IntVar(&o.serverPID, "server-pid", 0, "server pid for CPU from /proc (default: process_cpu_seconds_total from /metrics)")
	flag.StringVar(&o.codec, "codec", "VP8", "video codec: VP8 or H264")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "time after the last join before measuring")
	flag.BoolVar(&o.paid, "paid", false, "a ticketed stream: every viewer buys a ticket (development checkout), then joins with POST /access + WHEP")
	flag.StringVar(&o.country, "country", "MA", "with --paid: the country the server places viewers in (start it with --default-country)")
	flag.StringVar(&o.currency, "currency", "MAD", "with --paid: that country's currency")
	flag.Int64Var(&o.price, "price", 4900, "with --paid: ticket price in minor units")
	flag.BoolVar(&o.simulcast, "simulcast", false, "publish three simulcast layers (q, h, f at a tenth, a third and all of --bitrate)")
	flag.BoolVar(&o.twcc, "twcc", false, "viewers send transport-wide congestion feedback, as browsers do (the server's bandwidth estimation runs)")
	flag.StringVar(&o.viewOn, "view-on", "", "comma-separated nodes of a fleet the viewers join, in turn (the publisher is on --url; include it to compare); empty: --url")
	flag.IntVar(&o.flood, "flood", 0, "while viewers join, one other client ("+floodAddr+") posts this many WHEP offers that never connect (at most 100000)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "livegate-load:", err)
		os.Exit(1)
	}
}

func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--url %s: livegate-load only targets loopback addresses", raw)
	}
	return nil
}

type viewerStats struct {
	node       int       // which of the --view-on nodes
	delays     []float64 // one-way delays of sampled video packets (ms); guarded by mu
	joinStart  time.Time
	sess       *whipclient.Session
	firstVideo atomic.Int64 // unix nanos of the first video packet: what a viewer first sees
	packets    atomic.Uint64
	bytes      atomic.Uint64
	mu         sync.Mutex
	videoFirst uint64
	videoMax   uint64
	videoSeen  uint64
	videoInit  bool
	lastSeq    uint16
	ext        uint64
}

// count records a video sequence number, extended across wraps.
func (v *viewerStats) count(seq uint16) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.videoInit {
		v.videoInit, v.lastSeq, v.ext, v.videoFirst, v.videoMax = true, seq, 1<<32, 1<<32, 1<<32
		v.videoSeen = 1
		return
	}
	d := int16(seq - v.lastSeq)
	e := uint64(int64(v.ext) + int64(d))
	if d > 0 {
		v.ext, v.lastSeq = e, seq
	}
	if e > v.videoMax {
		v.videoMax = e
	}
	v.videoSeen++
}

func (v *viewerStats) videoCounts() (seen, expected uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.videoInit {
		return 0, 0
	}
	return v.videoSeen, v.videoMax - v.videoFirst + 1
}

func run(ctx context.Context, o options, out io.Writer) error {
	if err := checkLoopback(o.url); err != nil {
		return err
	}
	if o.viewers < 0 || o.viewers > 5000 {
		return errors.New("--viewers must be 0..5000")
	}
	if o.duration <= 0 || o.duration > 10*time.Minute {
		return errors.New("--duration must be in (0, 10m]")
	}
	if o.flood < 0 || o.flood > 100_000 {
		return errors.New("--flood must be 0..100000")
	}
	viewNodes := []string{strings.TrimRight(o.url, "/")}
	if o.viewOn != "" {
		viewNodes = nil
		for _, u := range strings.Split(o.viewOn, ",") {
			if err := checkLoopback(u); err != nil {
				return err
			}
			viewNodes = append(viewNodes, strings.TrimRight(strings.TrimSpace(u), "/"))
		}
	}
	api, err := whipclient.NewAPI(whipclient.Options{Interfaces: []string{"lo"}, Loopback: true, Simulcast: o.simulcast})
	if err != nil {
		return err
	}
	viewAPI, err := whipclient.NewAPI(whipclient.Options{Interfaces: []string{"lo"}, Loopback: true, TWCC: o.twcc})
	if err != nil {
		return err
	}
	base := strings.TrimRight(o.url, "/")
	mode := "free"
	if o.paid {
		mode = "ticket"
	}
	streamID, key, err := createStream(ctx, base, o.apiKey, mode)
	if err != nil {
		return fmt.Errorf("create stream: %w", err)
	}
	var viewerTokens []string
	if o.paid {
		prepStart := time.Now()
		if viewerTokens, err = preparePaid(ctx, base, o, streamID); err != nil {
			return fmt.Errorf("prepare paid viewers: %w", err)
		}
		fmt.Fprintf(out, "paid: %d viewers bought tickets (%s %d) in %.1fs\n", o.viewers, o.currency, o.price, time.Since(prepStart).Seconds())
	}

	// Publisher.
	mime := webrtc.MimeTypeVP8
	if strings.EqualFold(o.codec, "h264") {
		mime = webrtc.MimeTypeH264
	}
	pubCtx, cancelPub := context.WithCancel(ctx)
	defer cancelPub()
	pub, videos, audio, err := publish(pubCtx, api, base+"/whip/"+streamID, key, mime, o.bitrate, o.simulcast)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	var wg sync.WaitGroup
	defer func() {
		// The RTCP readers end when the publisher's connection closes.
		cancelPub()
		_ = pub.Close(context.Background())
		wg.Wait()
	}()
	for _, src := range append(append([]*mediagen.Source(nil), videos...), audio) {
		wg.Add(1)
		go func() { defer wg.Done(); src.Run(pubCtx) }()
	}
	wg.Add(2)
	go func() { defer wg.Done(); mediagen.ReadRTCPLayers(pub.Senders[0], videos) }()
	go func() { defer wg.Done(); audio.ReadRTCP(pub.Senders[1]) }()
	layers := ""
	if o.simulcast {
		layers = " in three simulcast layers (q, h, f)"
	}
	fmt.Fprintf(out, "publishing %s to stream %s at %d kbit/s video%s + 64 kbit/s Opus\n", o.codec, streamID, o.bitrate/1000, layers)

	// The flood, when asked for, runs beside the ramp: the viewers' joins are measured
	// under it.
	rss := sampleRSS(o.serverPID)
	floods := make(chan floodResult, 1)
	var floodErr error
	if o.flood > 0 {
		go func() {
			res, err := flood(ctx, base, streamID, o.flood)
			floodErr = err
			floods <- res
		}()
	}

	// Viewers, ramped.
	stats := make([]*viewerStats, o.viewers)
	sessions := make([]*whipclient.Session, o.viewers)
	var joined, failed atomic.Int64
	var measuring atomic.Bool
	var joinWG sync.WaitGroup
	interval := time.Duration(float64(time.Second) / o.rampRate)
	rampStart := time.Now()
	plis0 := totalPLIs(videos)
	var firstErr atomic.Value
	for i := 0; i < o.viewers; i++ {
		if ctx.Err() != nil {
			break
		}
		st := &viewerStats{joinStart: time.Now(), node: i % len(viewNodes)}
		stats[i] = st
		viewBase := viewNodes[st.node]
		joinWG.Add(1)
		go func(i int) {
			defer joinWG.Done()
			jctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			token := ""
			if o.paid {
				var err error
				if token, err = playbackToken(jctx, base, streamID, viewerTokens[i]); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
			}
			s, err := whipclient.View(jctx, viewAPI, viewBase+"/whep/"+streamID, token, func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
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
					if isVideo && !o.simulcast && k%4 == 0 && measuring.Load() {
						st.sampleDelay(&h, buf[:n], tr.Codec().MimeType, videos[0])
					}
					st.packets.Add(1)
					st.bytes.Add(uint64(n))
					if isVideo && n >= 4 {
						st.count(uint16(buf[2])<<8 | uint16(buf[3]))
					}
				}
			})
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			sessions[i] = s
			st.sess = s
			joined.Add(1)
		}(i)
		if i%10 == 0 || i == o.viewers-1 {
			fmt.Fprintf(out, "\rramping: %d/%d started, %d joined, %d failed", i+1, o.viewers, joined.Load(), failed.Load())
		}
		// Pace by the clock, not by sleeps, so the ramp rate holds whatever each step costs.
		time.Sleep(time.Until(rampStart.Add(time.Duration(i+1) * interval)))
	}
	joinWG.Wait()
	rampDur := time.Since(rampStart)
	var floodRes floodResult
	if o.flood > 0 {
		floodRes = <-floods
		if floodErr != nil {
			return floodErr
		}
	}
	rssBefore, rssPeak, rssAfter := rss.Stop()
	// Keyframe requests that reached the encoder while viewers joined, and until every
	// joined viewer has video (or a second has passed).
	for wait := time.Now().Add(time.Second); time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
		all := true
		for i, st := range stats {
			if st != nil && sessions[i] != nil && st.firstVideo.Load() == 0 {
				all = false
			}
		}
		if all {
			break
		}
	}
	joinsDur := time.Since(rampStart)
	plis := totalPLIs(videos) - plis0
	fmt.Fprintf(out, "\rramping: %d/%d joined, %d failed in %.1fs            \n", joined.Load(), o.viewers, failed.Load(), time.Since(rampStart).Seconds())
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(out, "first join error: %v\n", e)
	}
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.PC.Close()
			}
		}
	}()

	select {
	case <-time.After(o.warmup):
	case <-ctx.Done():
		return ctx.Err()
	}

	// Measure.
	cpu0, err := serverCPU(ctx, base, o.serverPID)
	if err != nil {
		return err
	}
	fwd0, _ := metric(ctx, base, "livegate_packets_forwarded_total")
	nodeCPU0, nodeFwd0 := fleetCounters(ctx, base, viewNodes)
	bytes0 := make([]uint64, len(stats))
	seen0 := make([]uint64, len(stats))
	exp0 := make([]uint64, len(stats))
	for i, st := range stats {
		if st != nil {
			bytes0[i] = st.bytes.Load()
			seen0[i], exp0[i] = st.videoCounts()
		}
	}
	t0 := time.Now()
	measuring.Store(true)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := t0.Add(o.duration)
loop:
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			fmt.Fprintf(out, "\rmeasuring: %2.0fs/%v", time.Since(t0).Seconds(), o.duration)
		}
	}
	elapsed := time.Since(t0)
	cpu1, err := serverCPU(context.Background(), base, o.serverPID)
	if err != nil {
		return err
	}
	fwd1, _ := metric(context.Background(), base, "livegate_packets_forwarded_total")
	fmt.Fprintln(out)

	var joins, firsts, connects, rates []float64
	var seenSum, expSum uint64
	for i, st := range stats {
		if st == nil || sessions[i] == nil {
			continue
		}
		if f := st.firstVideo.Load(); f != 0 {
			at := time.Unix(0, f)
			joins = append(joins, ms(at.Sub(st.joinStart)))
			firsts = append(firsts, ms(at.Sub(st.sess.Answered)))
		}
		if c := st.sess.ConnectedAt(); !c.IsZero() {
			connects = append(connects, ms(c.Sub(st.joinStart)))
		}
		rates = append(rates, float64(st.bytes.Load()-bytes0[i])*8/elapsed.Seconds()/1000)
		s, e := st.videoCounts()
		seenSum += s - seen0[i]
		expSum += e - exp0[i]
	}
	loss := 0.0
	if expSum > 0 && seenSum < expSum {
		loss = 100 * float64(expSum-seenSum) / float64(expSum)
	}
	forwarded := fwd1 - fwd0
	fmt.Fprintf(out, "\n== livegate-load report ==\n")
	fmt.Fprintf(out, "viewers connected      %d of %d (ramp %.1fs)\n", joined.Load(), o.viewers, rampDur.Seconds())
	what := "WHEP POST to first video packet"
	if o.paid {
		what = "POST /access to first video packet"
	}
	fmt.Fprintf(out, "join time (ms)         p50 %.0f  p99 %.0f  max %.0f   (%s)\n", pct(joins, 50), pct(joins, 99), pct(joins, 100), what)
	fmt.Fprintf(out, "connect time (ms)      p50 %.0f  p99 %.0f  max %.0f   (WHEP POST to DTLS up)\n", pct(connects, 50), pct(connects, 99), pct(connects, 100))
	fmt.Fprintf(out, "first video (ms)       p50 %.1f  p99 %.1f  max %.1f   (WHEP answer to first video packet)\n", pct(firsts, 50), pct(firsts, 99), pct(firsts, 100))
	fmt.Fprintf(out, "keyframe requests      %d at the publisher in %.1fs of joins (%.2f/s)\n", plis, joinsDur.Seconds(), float64(plis)/joinsDur.Seconds())
	fmt.Fprintf(out, "received kbit/s/viewer mean %.0f  min %.0f\n", mean(rates), pct(rates, 0))
	fmt.Fprintf(out, "video loss             %.3f%%  (%d of %d packets)\n", loss, expSum-min(seenSum, expSum), expSum)
	fmt.Fprintf(out, "forwarded packets/s    %.0f\n", forwarded/elapsed.Seconds())
	if forwarded > 0 {
		cpu := cpu1 - cpu0
		fmt.Fprintf(out, "server CPU             %.2f s in %.1f s (%.0f%% of a core)\n", cpu, elapsed.Seconds(), 100*cpu/elapsed.Seconds())
		fmt.Fprintf(out, "server CPU per packet  %.2f µs  (%.2f CPU s per million forwarded packets)\n", cpu/forwarded*1e6, cpu/forwarded*1e6)
	}
	if o.flood > 0 {
		fmt.Fprintf(out, "flood                  %d never-connecting offers from %s in %.1fs: %d answered, %d refused (429), %d other\n",
			o.flood, floodAddr, floodRes.took.Seconds(), floodRes.answered, floodRes.refused, floodRes.other)
		fmt.Fprintf(out, "audience after flood   viewers %d, unique %d (real viewers joined: %d)\n",
			floodRes.audience.Viewers, floodRes.audience.Unique, joined.Load())
	}
	if o.serverPID != 0 {
		fmt.Fprintf(out, "server RSS (MB)        %.0f before the joins, peak %.0f, %.0f after\n", rssBefore, rssPeak, rssAfter)
	}
	if o.viewOn != "" {
		fleetReport(out, fleetRun{origin: base, nodes: viewNodes, stats: stats, sessions: sessions, elapsed: elapsed,
			streamPPS: streamRate(videos, audio), cpu0: nodeCPU0, fwd0: nodeFwd0})
	}
	return nil
}

// published is the load's publisher session and its senders (video, audio).
type published struct {
	*whipclient.Session
	Senders []*webrtc.RTPSender
}

// publish sends generated video (one track, or three simulcast layers tagged with mid
// and rid as a browser tags them) and Opus; keyframes every 60 frames and on request.
func publish(ctx context.Context, api *webrtc.API, endpoint, key, mime string, bitrate int, simulcast bool) (*published, []*mediagen.Source, *mediagen.Source, error) {
	audio, err := mediagen.NewOpus()
	if err != nil {
		return nil, nil, nil, err
	}
	if !simulcast {
		video, err := mediagen.NewVideo(mime, bitrate)
		if err != nil {
			return nil, nil, nil, err
		}
		video.KeyframeEvery = 60
		sess, senders, err := whipclient.Publish(ctx, api, endpoint, key, video.Track, audio.Track)
		if err != nil {
			return nil, nil, nil, err
		}
		return &published{sess, senders}, []*mediagen.Source{video}, audio, nil
	}
	var layers []*mediagen.Source
	var tracks []webrtc.TrackLocal
	for _, l := range []struct {
		rid     string
		divisor int
	}{{"q", 10}, {"h", 3}, {"f", 1}} {
		src, err := mediagen.NewLayer(mime, bitrate/l.divisor, l.rid, 1100)
		if err != nil {
			return nil, nil, nil, err
		}
		src.KeyframeEvery = 60
		layers = append(layers, src)
		tracks = append(tracks, src.Track)
	}
	sess, senders, err := whipclient.PublishSimulcast(ctx, api, endpoint, key, tracks, audio.Track)
	if err != nil {
		return nil, nil, nil, err
	}
	for i, rid := range []string{"q", "h", "f"} {
		tag, err := whipclient.LayerTagger(sess, senders[0], rid)
		if err != nil {
			sess.PC.Close()
			return nil, nil, nil, err
		}
		layers[i].Decorate = tag
	}
	return &published{sess, senders}, layers, audio, nil
}

func totalPLIs(srcs []*mediagen.Source) uint64 {
	var n uint64
	for _, s := range srcs {
		n += s.PLIs()
	}
	return n
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func createStream(ctx context.Context, base, apiKey, mode string) (string, string, error) {
	call := func(path string, body any, out any) error {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, "POST", base+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if apiKey != "" {
			req.Header.Set("Authorization", "Bearer "+apiKey)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 201 {
			return fmt.Errorf("%s: %d %s", path, resp.StatusCode, raw)
		}
		return json.Unmarshal(raw, out)
	}
	var c struct{ ID string }
	if err := call("/v1/creators", map[string]string{"name": "livegate-load"}, &c); err != nil {
		return "", "", err
	}
	var s struct {
		ID        string `json:"id"`
		StreamKey string `json:"stream_key"`
	}
	if err := call("/v1/streams", map[string]string{"creator_id": c.ID, "title": "load test", "access_mode": mode}, &s); err != nil {
		return "", "", err
	}
	return s.ID, s.StreamKey, nil
}

// serverCPU is the server's user+system CPU seconds.
func serverCPU(ctx context.Context, base string, pid int) (float64, error) {
	if pid == 0 {
		v, err := metric(ctx, base, "process_cpu_seconds_total")
		if err != nil {
			return 0, fmt.Errorf("server CPU from /metrics: %w", err)
		}
		return v, nil
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name; utime and stime are 14 and 15.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

func metric(ctx context.Context, base, name string) (float64, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") {
			return strconv.ParseFloat(strings.TrimSpace(line[len(name):]), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(p / 100 * float64(len(s)-1))
	return s[i]
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

// apiCall does one JSON request with a bearer token.
func apiCall(ctx context.Context, method, url, bearer string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// preparePaid enables the country, prices the stream and has every viewer buy a ticket
// through the development checkout; it returns the viewers' tokens.
func preparePaid(ctx context.Context, base string, o options, streamID string) ([]string, error) {
	key := o.apiKey
	launch := time.Now().Add(-time.Minute).UTC()
	err := apiCall(ctx, "PUT", base+"/v1/admin/countries/"+o.country, key, map[string]any{"enabled": true, "launch_at": launch,
		"currency": o.currency, "min_ticket": o.price, "max_ticket": o.price, "min_subscription": o.price, "max_subscription": o.price,
		"fee_bps": 1000, "payouts": "manual"}, nil)
	if err != nil {
		return nil, err
	}
	if err := apiCall(ctx, "PUT", base+"/v1/streams/"+streamID+"/prices", key, map[string]any{"prices": map[string]int64{o.currency: o.price}}, nil); err != nil {
		return nil, err
	}
	tokens := make([]string, o.viewers)
	errs := make(chan error, o.viewers)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			var tok struct{ Token string }
			if err := apiCall(ctx, "POST", base+"/v1/admin/dev/tokens", key, map[string]string{"viewer_id": fmt.Sprintf("load-viewer-%d-%s", i, streamID), "ttl": "2h"}, &tok); err != nil {
				errs <- err
				return
			}
			var co struct {
				ID          string `json:"id"`
				DevCheckout bool   `json:"dev_checkout"`
			}
			if err := apiCall(ctx, "POST", base+"/v1/streams/"+streamID+"/checkout", tok.Token, nil, &co); err != nil {
				errs <- err
				return
			}
			if !co.DevCheckout {
				errs <- errors.New("--paid needs a server in development checkout mode (no STRIPE_SECRET_KEY)")
				return
			}
			if err := apiCall(ctx, "POST", base+"/dev/checkout/"+co.ID+"/pay", "", nil, nil); err != nil {
				errs <- err
				return
			}
			tokens[i] = tok.Token
		}(i)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return tokens, nil
}

// playbackToken asks for access as a viewer.
func playbackToken(ctx context.Context, base, streamID, viewerToken string) (string, error) {
	var g struct {
		PlaybackToken string `json:"playback_token"`
	}
	if err := apiCall(ctx, "POST", base+"/v1/streams/"+streamID+"/access", viewerToken, nil, &g); err != nil {
		return "", err
	}
	return g.PlaybackToken, nil
}
