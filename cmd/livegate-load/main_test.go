package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/testenv"
)

func TestRefusesNonLoopback(t *testing.T) {
	for _, u := range []string{"http://10.0.0.1:8080", "http://example.com", "http://192.168.1.2"} {
		if err := checkLoopback(u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"} {
		if err := checkLoopback(u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}

// A short real run against a real node: every viewer connects and the report says so.
func TestReportAgainstNode(t *testing.T) {
	cfg := testenv.LoopbackConfig(t)
	n := testenv.StartNode(t, cfg)

	var out bytes.Buffer
	err := run(context.Background(), options{url: n.URL(), viewers: 3, bitrate: 300_000, duration: 2 * time.Second,
		rampRate: 50, codec: "VP8", warmup: 500 * time.Millisecond}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{`viewers connected\s+3 of 3`, `join time \(ms\)\s+p50 \d+`, `video loss\s+0\.000%`, `connect time \(ms\)\s+p50 \d+`, `keyframe requests\s+\d+ at the publisher`, `server CPU per packet\s+[\d.]+ µs`} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// --paid: viewers buy tickets through the development checkout, then join with playback
// tokens; every one connects.
func TestPaidJoinStorm(t *testing.T) {
	cfg := testenv.LoopbackConfig(t)
	cfg.TCPAddr = ""
	cfg.DefaultCountry = "MA"
	n := testenv.StartNode(t, cfg)
	var out bytes.Buffer
	err := run(context.Background(), options{url: n.URL(), viewers: 4, bitrate: 300_000, duration: time.Second,
		rampRate: 50, codec: "VP8", warmup: 300 * time.Millisecond, paid: true, country: "MA", currency: "MAD", price: 4900}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{`paid: 4 viewers bought tickets`, `viewers connected\s+4 of 4`, `POST /access to first video packet`} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// --simulcast --twcc: a three-layer publisher and viewers that feed the node's bandwidth
// estimation; every viewer connects and gets video.
func TestSimulcastReport(t *testing.T) {
	cfg := testenv.LoopbackConfig(t)
	n := testenv.StartNode(t, cfg)
	var out bytes.Buffer
	err := run(context.Background(), options{url: n.URL(), viewers: 3, bitrate: 600_000, duration: 2 * time.Second,
		rampRate: 50, codec: "VP8", warmup: time.Second, simulcast: true, twcc: true}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{`three simulcast layers`, `viewers connected\s+3 of 3`, `first video \(ms\)\s+p50 [\d.]+`} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// --flood: another client's never-connecting offers are cut at the node's pending cap
// per client, and none of them is counted in the stream's audience.
func TestFloodReport(t *testing.T) {
	cfg := testenv.LoopbackConfig(t)
	cfg.MaxPendingPerClient = 10
	n := testenv.StartNode(t, cfg)
	var out bytes.Buffer
	err := run(context.Background(), options{url: n.URL(), viewers: 3, bitrate: 300_000, duration: time.Second,
		rampRate: 50, codec: "VP8", warmup: 300 * time.Millisecond, flood: 40}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{`viewers connected\s+3 of 3`, `flood\s+40 never-connecting offers from 127\.0\.0\.2 in [\d.]+s: 10 answered, 30 refused \(429\), 0 other`,
		`audience after flood\s+viewers [0-3], unique [0-3] `} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// --view-on: a fleet of two nodes sharing Redis and PostgreSQL, viewers on both; the
// report says the origin sends one copy to its edge and each node's packet delay.
func TestFleetReport(t *testing.T) {
	redisURL, prefix, pg := testenv.RedisURL(t), testenv.UniquePrefix(), testenv.PostgresURL(t)
	var urls []string
	for _, id := range []string{"node-a", "node-b"} {
		cfg := testenv.LoopbackConfig(t)
		cfg.RedisURL, cfg.RedisPrefix, cfg.DatabaseURL, cfg.NodeID = redisURL, prefix, pg, id
		urls = append(urls, testenv.StartNode(t, cfg).URL())
	}
	var out bytes.Buffer
	err := run(context.Background(), options{url: urls[0], viewOn: urls[0] + "," + urls[1], viewers: 4, bitrate: 300_000,
		duration: 2 * time.Second, rampRate: 50, codec: "VP8", warmup: 500 * time.Millisecond}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{`viewers connected\s+4 of 4`, `2 viewers of its own and 1 edges: [01]\.\d+ copies per edge`,
		`node 1 \(edge\) \S+: 2 viewers, join p50 \d+ p99 \d+ ms, packet delay p50 [\d.]+`} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// --peer loads another SFU for the side-by-side figures; without the server's pid its CPU
// cannot be read (it has no livegate metrics), and livegate-only modes make no sense.
func TestPeerOptions(t *testing.T) {
	base := options{url: "http://127.0.0.1:18090", viewers: 10, duration: time.Second}
	for name, o := range map[string]options{
		"no pid":    base,
		"paid":      {url: base.url, viewers: 10, duration: time.Second, serverPID: 1, paid: true},
		"unknown":   {url: base.url, viewers: 10, duration: time.Second, serverPID: 1},
		"simulcast": {url: base.url, viewers: 10, duration: time.Second, serverPID: 1, simulcast: true},
	} {
		o.peer = peerBroadcastBox
		if name == "unknown" {
			o.peer = "mediasoup"
		}
		if _, err := o.check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := options{url: base.url, viewers: 10, duration: time.Second, serverPID: 1, peer: peerBroadcastBox}
	if _, err := ok.check(); err != nil {
		t.Errorf("a peer run with its pid: %v", err)
	}
	l := &load{o: ok, base: ok.url}
	if l.whipURL() != ok.url+"/api/whip" || l.whepURL(ok.url) != ok.url+"/api/whep" {
		t.Errorf("Broadcast Box's endpoints: %s %s", l.whipURL(), l.whepURL(ok.url))
	}
}
