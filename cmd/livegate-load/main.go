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
	// peer names another SFU under the same load, for the side-by-side figures:
	// "broadcast-box" (WHIP at /api/whip, WHEP at /api/whep, the stream key as bearer).
	peer string
	// stepBitrate, when set, is the video bitrate the publisher moves to stepAt into the
	// measured window (an encoder that doubles its bitrate on a loaded node).
	stepBitrate int
	stepAt      time.Duration
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
	flag.StringVar(&o.peer, "peer", "", `load another SFU instead, for a side-by-side run: "broadcast-box" (needs --server-pid; forwarded packets are counted at the viewers)`)
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "time after the last join before measuring")
	flag.BoolVar(&o.paid, "paid", false, "a ticketed stream: every viewer buys a ticket (development checkout), then joins with POST /access + WHEP")
	flag.StringVar(&o.country, "country", "MA", "with --paid: the country the server places viewers in (start it with --default-country)")
	flag.StringVar(&o.currency, "currency", "MAD", "with --paid: that country's currency")
	flag.Int64Var(&o.price, "price", 4900, "with --paid: ticket price in minor units")
	flag.BoolVar(&o.simulcast, "simulcast", false, "publish three simulcast layers (q, h, f at a tenth, a third and all of --bitrate)")
	flag.BoolVar(&o.twcc, "twcc", false, "viewers send transport-wide congestion feedback, as browsers do (the server's bandwidth estimation runs)")
	flag.StringVar(&o.viewOn, "view-on", "", "comma-separated nodes of a fleet the viewers join, in turn (the publisher is on --url; include it to compare); empty: --url")
	flag.IntVar(&o.stepBitrate, "step-bitrate", 0, "video bitrate (bit/s) the publisher moves to --step-at into the measured window (0: none)")
	flag.DurationVar(&o.stepAt, "step-at", 5*time.Second, "with --step-bitrate: when, into the measured window")
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
	video      atomic.Uint64 // video packets
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
