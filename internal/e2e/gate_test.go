package e2e

// The paid gate as deployed: each test starts the real cmd/livegate binary with flags and
// environment as an operator would, and tries what an attacker would.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/internal/testservices"
)

// randomSecret is what an operator puts in a secret store: 64 hex characters.
func randomSecret(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// signedViewer is a viewer JWT the platform signs with its HS256 secret.
func signedViewer(t *testing.T, secret, viewer string) string {
	t.Helper()
	return platformToken(t, secret, viewer, "", "")
}

// forgedPlayback is a playback token for stream signed with secret, as an attacker who
// knows (or guesses) the secret would make one.
func forgedPlayback(t *testing.T, secret, viewer, stream string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": viewer, "jti": "forged-" + strconv.FormatInt(time.Now().UnixNano(), 10),
		"str": stream, "ent": "ent_forged", "aud": "livegate-playback", "exp": time.Now().Add(time.Minute).Unix()}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// moneyProcess are the flags and environment of a node billing through stripe-mock, with
// GeoIP behind a trusted proxy and data in a PostgreSQL schema of the test: moneySettings
// for the binary.
func moneyProcess(t *testing.T) (databaseURL string, args, env []string) {
	t.Helper()
	stripeMock, mmdb := testenv.StripeMockURL(t), testenv.CountryMMDB(t)
	return testenv.PostgresURL(t),
		[]string{"--stripe-api-base", stripeMock, "--geoip-db", mmdb, "--trusted-proxies", "127.0.0.1/32,::1/128",
			"--operator-keys", "alice=alice-operator-key-0123456789", "--viewer-jwt-secret", testViewerSecret},
		[]string{"STRIPE_SECRET_KEY=sk_test_livegate", "STRIPE_WEBHOOK_SECRET=" + webhookSecret}
}

func (n *testNode) root() map[string]any {
	n.t.Helper()
	var out map[string]any
	if r := n.raw("GET", "/", "", "", nil); r.status != 200 || json.Unmarshal([]byte(r.body), &out) != nil {
		n.t.Fatalf("GET /: %d %s", r.status, r.body)
	}
	return out
}

func form(values url.Values) string { return values.Encode() }

// Item 1: a node holding the platform's secrets has no development door, production flag
// or not; a bare development node keeps its doors and says so.
func TestDeployedNodeHasNoDevelopmentDoor(t *testing.T) {
	parallelWait(t)
	viewerSecret := randomSecret(t, "")
	real := startProcess(t, "", []string{"--viewer-jwt-secret", viewerSecret, "--stripe-api-base", testenv.StripeMockURL(t)},
		[]string{"STRIPE_SECRET_KEY=sk_test_livegate", "STRIPE_WEBHOOK_SECRET=" + webhookSecret})
	formType := "application/x-www-form-urlencoded"
	apiKey := map[string]string{"Authorization": "Bearer " + testAPIKey}
	if r := real.raw("POST", "/dev/login", formType, form(url.Values{"viewer_id": {"someone-else"}}), nil); r.status != 404 {
		t.Errorf("POST /dev/login on a node with the platform's viewer secret: %d %s", r.status, r.body)
	}
	if r := real.raw("POST", "/v1/admin/dev/tokens", "application/json", `{"viewer_id":"someone-else"}`, apiKey); r.status != 404 {
		t.Errorf("POST /v1/admin/dev/tokens with the API key: %d %s", r.status, r.body)
	}
	if r := real.raw("GET", "/dev/checkout/co_anything", "", "", nil); r.status != 404 {
		t.Errorf("GET /dev/checkout with a Stripe key configured: %d", r.status)
	}
	dev := fmt.Sprint(real.root()["development"])
	if strings.Contains(dev, "/dev/login") || strings.Contains(dev, "/dev/checkout") {
		t.Errorf("GET / development lists doors that are closed: %s", dev)
	}
	// The platform's own tokens do work there.
	s := real.newStream()
	publish(t, real, s, webrtc.MimeTypeVP8, 30)
	r := real.raw("POST", "/v1/streams/"+s.ID+"/access", "", "", map[string]string{"Authorization": "Bearer " + signedViewer(t, viewerSecret, "fan-1")})
	if r.status != 200 {
		t.Fatalf("access with a platform viewer token: %d %s", r.status, r.body)
	}

	// Stripe keys alone (no viewer secret yet) close the doors too: whoever minted a
	// buyer's viewer id would watch on the buyer's ticket.
	stripeOnly := startProcess(t, "", []string{"--stripe-api-base", testenv.StripeMockURL(t)},
		[]string{"STRIPE_SECRET_KEY=sk_test_livegate", "STRIPE_WEBHOOK_SECRET=" + webhookSecret})
	if r := stripeOnly.raw("POST", "/dev/login", formType, form(url.Values{"viewer_id": {"a-buyer"}}), nil); r.status != 404 {
		t.Errorf("POST /dev/login on a node with only Stripe keys: %d", r.status)
	}
	if r := stripeOnly.raw("POST", "/v1/admin/dev/tokens", "application/json", `{"viewer_id":"a-buyer"}`, apiKey); r.status != 404 {
		t.Errorf("POST /v1/admin/dev/tokens on a node with only Stripe keys: %d", r.status)
	}
	if dev := fmt.Sprint(stripeOnly.root()["development"]); strings.Contains(dev, "/dev/") {
		t.Errorf("GET / on a node with only Stripe keys lists development doors: %s", dev)
	}

	bare := startProcess(t, "", nil, nil)
	r = bare.raw("POST", "/dev/login", formType, form(url.Values{"viewer_id": {"me"}}), nil)
	if r.status != 200 || !regexp.MustCompile(`eyJ[\w-]+\.[\w-]+\.[\w-]+`).MatchString(r.body) {
		t.Errorf("bare development node: POST /dev/login %d, no token in the page", r.status)
	}
	if r := bare.raw("POST", "/v1/admin/dev/tokens", "application/json", `{"viewer_id":"me"}`, apiKey); r.status != 201 {
		t.Errorf("bare development node: POST /v1/admin/dev/tokens %d %s", r.status, r.body)
	}
	devList, _ := bare.root()["development"].([]any)
	joined := fmt.Sprint(devList)
	for _, want := range []string{"/dev/login", "/dev/checkout", "playback tokens", "SQLite"} {
		if !strings.Contains(joined, want) {
			t.Errorf("GET / development %q does not mention %q", joined, want)
		}
	}
	waitOutput(t, bare.proc, "development defaults in force")
	if c := strings.Count(bare.proc.Output(), `"level":"WARN"`); c != 1 {
		t.Errorf("a bare development node logs %d WARN lines at start, want the one listing the defaults:\n%s", c, bare.proc.Output())
	}
	if c := strings.Count(bare.proc.Output(), "development defaults in force"); c != 1 {
		t.Errorf("development defaults logged %d times, want one line", c)
	}
	for _, line := range strings.Split(real.proc.Output(), "\n") {
		if strings.Contains(line, "development defaults in force") && strings.Contains(line, "/dev/") {
			t.Errorf("node with real secrets logs a development door: %s", line)
		}
	}

	// A live Stripe key on a node that is not --production does not start.
	args, _ := testenv.LoopbackArgs(t)
	code, out := testenv.RunUntilExit(t, args, []string{"STRIPE_SECRET_KEY=sk_live_" + randomSecret(t, ""), "STRIPE_WEBHOOK_SECRET=whsec_" + randomSecret(t, "")}, 15*time.Second)
	if code == 0 {
		t.Fatalf("started with a live Stripe key and no --production:\n%s", out)
	}
	for _, want := range []string{"--production", "--playback-secret", "--viewer-jwt-secret", "--api-key"} {
		if !strings.Contains(out, want) {
			t.Errorf("refusal does not name %s:\n%s", want, out)
		}
	}
}

func waitOutput(t *testing.T, p *testenv.Process, want string) {
	t.Helper()
	poll.Until(t, 5*time.Second, fmt.Sprintf("the output saying %q", want), func() error {
		return poll.Want(strings.Contains(p.Output(), want), "it says:\n%s", p.Output())
	})
}

// repoFile is a file of the repository, found from this source file.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", rel)
}

// envFile reads KEY=VALUE lines, as docker compose's env_file does.
func envFile(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") && strings.Contains(line, "=") {
			env = append(env, line)
		}
	}
	return env
}

// Item 2: --production refuses published, placeholder and weak secrets, naming the flag;
// the example deployment does not start as shipped; a strong node refuses forged tokens.
func TestProductionRefusesPublishedSecrets(t *testing.T) {
	parallelWait(t)
	stripeMock := testenv.StripeMockURL(t)
	strong := map[string]string{
		"--playback-secret": randomSecret(t, ""), "--viewer-jwt-secret": randomSecret(t, ""), "--api-key": randomSecret(t, "k"),
	}
	stripeEnv := []string{"STRIPE_SECRET_KEY=sk_test_" + randomSecret(t, ""), "STRIPE_WEBHOOK_SECRET=whsec_" + randomSecret(t, "")}
	// production are the flags of a production node, beyond the loopback ones.
	production := func(override map[string]string) []string {
		args := []string{"--production", "--stripe-api-base", stripeMock}
		for flag, v := range strong {
			if o, ok := override[flag]; ok {
				v = o
			}
			args = append(args, flag, v)
		}
		return args
	}
	for _, c := range []struct {
		flag, value, why string
	}{
		{"--playback-secret", "change-me-32-bytes-shared-by-every-node", "placeholder"},
		{"--playback-secret", playbackSecret, "published"},
		{"--playback-secret", "an-Example-of-a-long-playback-value-1234", "placeholder"},
		{"--viewer-jwt-secret", strings.Repeat("ab", 20), "weak"},
		{"--viewer-jwt-secret", "0123456789abcdef0123456789abcdef", "published"},
		{"--api-key", "dev-api-key-change-me-0123456789", "placeholder"},
		{"--api-key", "short-Key-1", "short"},
	} {
		loopback, _ := testenv.LoopbackArgs(t)
		code, out := testenv.RunUntilExit(t, append(loopback, production(map[string]string{c.flag: c.value})...), stripeEnv, 15*time.Second)
		if code == 0 || !strings.Contains(out, c.flag) {
			t.Errorf("%s %s (%s): exit %d, output does not refuse it by name:\n%s", c.flag, c.value, c.why, code, out)
		}
		if strings.Contains(out, c.value) {
			t.Errorf("the refusal prints the secret %q", c.value)
		}
	}
	// A webhook signing secret typed by hand, and an S3 secret of three letters.
	for _, c := range []struct {
		name      string
		args, env []string
	}{
		{"STRIPE_WEBHOOK_SECRET", production(nil), []string{stripeEnv[0], "STRIPE_WEBHOOK_SECRET=whsec_abc123abc123abc1"}},
		{"--recordings-s3-secret-key", append(production(nil), "--recordings-s3-endpoint", "127.0.0.1:19000", "--recordings-s3-bucket", "recordings",
			"--recordings-s3-access-key", "livegate", "--recordings-s3-secret-key", "abc"), stripeEnv},
	} {
		loopback, _ := testenv.LoopbackArgs(t)
		code, out := testenv.RunUntilExit(t, append(loopback, c.args...), c.env, 15*time.Second)
		if code == 0 || !strings.Contains(out, c.name) {
			t.Errorf("a weak %s: exit %d, output does not refuse it by name:\n%s", c.name, code, out)
		}
	}
	// The example environment file as shipped, with --production.
	args, _ := testenv.LoopbackArgs(t)
	example := envFile(t, repoFile(t, "deploy/livegate.env.example"))
	if code, out := testenv.RunUntilExit(t, append(args, "--production"), example, 15*time.Second); code == 0 {
		t.Errorf("deploy/livegate.env.example starts a production node as shipped:\n%s", out)
	}

	n := startProcess(t, "", production(nil), stripeEnv)
	if r := n.raw("POST", "/dev/login", "application/x-www-form-urlencoded", "viewer_id=x", nil); r.status != 404 {
		t.Errorf("production /dev/login: %d", r.status)
	}
	if dev := fmt.Sprint(n.root()["development"]); strings.Contains(dev, "/dev/") || strings.Contains(dev, "open to anyone") {
		t.Errorf("production node lists development doors: %v", dev)
	}
	n.launchCountries()
	_, paid := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	publish(t, n, paid, webrtc.MimeTypeVP8, 30)
	for _, secret := range []string{"change-me-32-bytes-shared-by-every-node", playbackSecret, "compose-playback-secret-0123456789abcdef"} {
		expectNoMedia(t, n, paid, forgedPlayback(t, secret, "thief", paid.ID), 401, "playback-token-invalid")
	}
	// What the platform signs still opens a free stream there.
	free := n.newStream()
	publish(t, n, free, webrtc.MimeTypeVP8, 30)
	r := n.raw("POST", "/v1/streams/"+free.ID+"/access", "", "", map[string]string{"Authorization": "Bearer " + signedViewer(t, strong["--viewer-jwt-secret"], "fan")})
	var g accessGrant
	if r.status != 200 || json.Unmarshal([]byte(r.body), &g) != nil {
		t.Fatalf("access with a platform token: %d %s", r.status, r.body)
	}
	v := mustWatchToken(t, n, free, g.PlaybackToken)
	v.waitPackets(t, "video", 10, 10*time.Second)

	// With no --remote-networks, production sends nothing to loopback or private ranges.
	closed := startProcess(t, "", append(production(nil), "--remote-networks", ""), stripeEnv)
	probe := newICEProbe(t)
	probe.aim(t, closed)
	time.Sleep(2 * time.Second) // about time: nothing sent for 2 s
	if got := probe.stun.Load(); got != 0 {
		t.Errorf("production node with default networks sent %d STUN packets to 127.0.0.2", got)
	}
}

// iceProbe stands where an attacker points a node: a UDP and a TCP listener on
// 127.0.0.2, counting what arrives.
type iceProbe struct {
	udp      *net.UDPConn
	tcp      net.Listener
	stun     atomic.Int64
	tcpOpens atomic.Int64
}

func newICEProbe(t *testing.T) *iceProbe {
	t.Helper()
	p := &iceProbe{}
	var err error
	if p.udp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}); err != nil {
		t.Fatal(err)
	}
	if p.tcp, err = net.Listen("tcp4", "127.0.0.2:0"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 1500)
		for {
			n, _, err := p.udp.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if n >= 20 && buf[0] < 2 { // a STUN message
				p.stun.Add(1)
			}
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			c, err := p.tcp.Accept()
			if err != nil {
				return
			}
			p.tcpOpens.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { p.udp.Close(); p.tcp.Close(); <-done; <-done })
	return p
}

// candidates is a trickle fragment aiming a node at the probe, over UDP and ICE-TCP.
func (p *iceProbe) candidates() string {
	return fmt.Sprintf("a=candidate:1 1 udp 2130706431 127.0.0.2 %d typ host\r\n"+
		"a=candidate:2 1 tcp 1518280447 127.0.0.2 %d typ host tcptype passive\r\n",
		p.udp.LocalAddr().(*net.UDPAddr).Port, p.tcp.Addr().(*net.TCPAddr).Port)
}

// aim opens a WHIP session on a new stream of n (an offer without candidates) and
// PATCHes the probe's candidates into it; it returns the session's path and headers.
func (p *iceProbe) aim(t *testing.T, n *testNode) (string, map[string]string) {
	t.Helper()
	s := n.newStream()
	r := n.raw("POST", "/whip/"+s.ID, "application/sdp", offerSDP(t, true), map[string]string{"Authorization": "Bearer " + s.StreamKey})
	if r.status != 201 {
		t.Fatalf("WHIP offer: %d %s", r.status, r.body)
	}
	loc := strings.TrimPrefix(r.header.Get("Location"), n.URL())
	pr := n.raw("PATCH", loc, "application/trickle-ice-sdpfrag", "a=mid:0\r\n"+p.candidates(),
		map[string]string{"If-Match": r.header.Get("ETag"), "Authorization": "Bearer " + s.StreamKey})
	if pr.status != 204 {
		t.Fatalf("PATCH candidates: %d %s", pr.status, pr.body)
	}
	return loc, map[string]string{"Authorization": "Bearer " + s.StreamKey}
}

// Item 5: candidates outside --remote-networks get nothing, UDP or TCP; the node never
// opens ICE-TCP itself; candidates and PATCHes per session are bounded.
func TestICECandidatesOnlyWhereAllowed(t *testing.T) {
	narrow := startProcess(t, "", []string{"--remote-networks", "127.0.0.1/32"}, nil)
	wide := startProcess(t, "", nil, nil) // 127.0.0.0/8: the control
	blocked, allowed := newICEProbe(t), newICEProbe(t)
	blocked.aim(t, narrow)
	loc, key := allowed.aim(t, wide)
	time.Sleep(3 * time.Second) // about time: STUN for 3 s
	if got := allowed.stun.Load(); got == 0 {
		t.Fatal("control: a node allowed 127.0.0.0/8 sent no STUN to 127.0.0.2; the probe sees nothing")
	}
	if got := blocked.stun.Load(); got != 0 {
		t.Errorf("node limited to 127.0.0.1/32 sent %d STUN packets to 127.0.0.2", got)
	}
	if got := blocked.tcpOpens.Load() + allowed.tcpOpens.Load(); got != 0 {
		t.Errorf("nodes opened %d ICE-TCP connections; they must only accept", got)
	}
	t.Logf("control probe got %d STUN packets in 3 s from one candidate", allowed.stun.Load())

	// Bounds: 32 PATCHes, 32 candidates per session by default.
	for i := 2; i <= 32; i++ {
		if r := wide.raw("PATCH", loc, "application/trickle-ice-sdpfrag", "a=mid:0\r\n", key); r.status != 204 {
			t.Fatalf("PATCH %d: %d %s", i, r.status, r.body)
		}
	}
	r := wide.raw("PATCH", loc, "application/trickle-ice-sdpfrag", "a=mid:0\r\n", key)
	expectProblem(t, "33rd PATCH", r, 429, "too-many-patches")
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	var many strings.Builder
	for i := 0; i < 33; i++ {
		fmt.Fprintf(&many, "a=candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host\r\n", i+1, 20000+i)
	}
	s := wide.newStream()
	offer := strings.Replace(offerSDP(t, true), "a=mid:0\r\n", "a=mid:0\r\n"+many.String(), 1)
	expectProblem(t, "offer with 33 candidates", wide.raw("POST", "/whip/"+s.ID, "application/sdp", offer,
		map[string]string{"Authorization": "Bearer " + s.StreamKey}), 413, "too-many-candidates")
	r = wide.raw("POST", "/whip/"+s.ID, "application/sdp", offerSDP(t, true), map[string]string{"Authorization": "Bearer " + s.StreamKey})
	if r.status != 201 {
		t.Fatalf("WHIP after a refused offer: %d %s", r.status, r.body)
	}
	loc, key = strings.TrimPrefix(r.header.Get("Location"), wide.URL()), map[string]string{"Authorization": "Bearer " + s.StreamKey}
	var half strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&half, "a=candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host\r\n", i+1, 21000+i)
	}
	if r := wide.raw("PATCH", loc, "application/trickle-ice-sdpfrag", "a=mid:0\r\n"+half.String(), key); r.status != 204 {
		t.Fatalf("PATCH 20 candidates: %d %s", r.status, r.body)
	}
	expectProblem(t, "20 more candidates", wide.raw("PATCH", loc, "application/trickle-ice-sdpfrag", "a=mid:0\r\n"+half.String(), key), 413, "too-many-candidates")
}

// redisCLI runs redis-cli against port.
func redisCLI(t *testing.T, port int, args ...string) string {
	t.Helper()
	out, err := exec.Command("redis-cli", append([]string{"-p", strconv.Itoa(port)}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %v: %v %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// waitMarker waits until a revocation marker of entitlement-kind is in Redis.
func waitMarker(t *testing.T, port int, prefix string, within time.Duration) {
	t.Helper()
	poll.Until(t, within, "a revocation marker in Redis", func() error {
		return poll.Want(redisCLI(t, port, "--scan", "--pattern", prefix+"rev:ent:*") != "", "none")
	})
}

// Item 3: a refund while Redis is paused, and while it is down, still reaches Redis and
// cuts the refunded viewer within a second.
func TestRevocationSurvivesRedisBlips(t *testing.T) {
	rd := testservices.StartRedis(t)
	prefix := testenv.UniquePrefix()
	db, args, env := moneyProcess(t)
	n := startProcess(t, db, append(args, "--redis-url", rd.URL, "--redis-prefix", prefix,
		"--playback-secret", playbackSecret, "--session-ttl", "3s"), env)
	n.launchCountries()
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	watching := func(id string) (buyer, *viewer) {
		b := n.buyer(id, testenv.IPMorocco)
		b.buyTicket(s.ID)
		v, err := watchWithToken(t, n, s, b.mustAccess(s.ID).PlaybackToken)
		if err != nil {
			t.Fatalf("%s watches: %v", id, err)
		}
		v.waitPackets(t, "video", 10, 10*time.Second)
		return b, v
	}
	paused, pausedViewer := watching("viewer-paused")
	down, downViewer := watching("viewer-down")

	redisCLI(t, rd.Port(), "CLIENT", "PAUSE", "3000", "ALL")
	answersAgain := time.Now().Add(3 * time.Second)
	refundAt := time.Now()
	n.deliver("evt_refund_paused", "charge.refunded", refundedCharge("pi_"+paused.id, 4900, true))
	t.Logf("refund webhook answered in %v with Redis paused", time.Since(refundAt))
	last := pausedViewer.waitClosed(t, 6*time.Second)
	if last.After(answersAgain.Add(time.Second)) {
		t.Fatalf("refunded viewer got media %v after the refund, over a second after Redis answered again", last.Sub(refundAt))
	}
	t.Logf("paused Redis: media cut %v after the refund", last.Sub(refundAt))
	waitMarker(t, rd.Port(), prefix, 5*time.Second)
	if before := len(downViewer.snapshot("video")); func() bool { time.Sleep(500 * time.Millisecond); return len(downViewer.snapshot("video")) <= before }() {
		t.Fatal("a viewer with a ticket lost media")
	}

	rd.Stop(t)
	refundAt = time.Now()
	r := n.sendEvent("evt_refund_down", "charge.refunded", refundedCharge("pi_"+down.id, 4900, true), time.Now(), webhookSecret)
	switch r.status {
	case 200: // durable in SQL; the outbox delivers it when Redis is back
	case 500, 503: // Stripe retries it
		t.Logf("refund with Redis down answered %d; Stripe would retry", r.status)
	default:
		t.Fatalf("refund with Redis down: %d %s", r.status, r.body)
	}
	if r.status == 200 {
		if cut := downViewer.waitClosed(t, 3*time.Second).Sub(refundAt); cut > time.Second {
			t.Fatalf("refunded viewer got media %v after the refund while Redis was down", cut)
		}
	}
	rd.Start(t) // empty: the earlier marker is gone with it
	if r.status == 200 {
		waitMarker(t, rd.Port(), prefix, 5*time.Second)
	}
}

// Item 4: a playback token opens one session, ever, on any node; admission checks
// revocations; preview is charged per viewer and stream.
func TestPlaybackTokenOpensOneSession(t *testing.T) {
	db, args, env := moneyProcess(t)
	args = append(args, "--redis-url", testenv.RedisURL(t), "--redis-prefix", testenv.UniquePrefix(),
		"--playback-secret", playbackSecret, "--session-ttl", "3s")
	a := startProcess(t, db, append(args, "--node-id", "node-a"), env)
	b := startProcess(t, db, append(args, "--node-id", "node-b"), env)
	a.launchCountries()
	_, s := a.ticketStream("MA", map[string]int64{"MAD": 4900})
	if st := a.call("PATCH", "/v1/streams/"+s.ID, map[string]any{"preview_seconds": 3}, nil); st != 200 {
		t.Fatalf("patch preview: %d", st)
	}
	publish(t, b, s, webrtc.MimeTypeVP8, 30)

	fan := a.buyer("viewer-fan", testenv.IPMorocco)
	fan.buyTicket(s.ID)
	g := fan.mustAccess(s.ID)
	v := mustWatchToken(t, b, s, g.PlaybackToken)
	v.waitPackets(t, "video", 10, 10*time.Second)
	if !strings.HasSuffix(v.sess.Location, "/whep/"+s.ID+"/"+g.SessionID) {
		t.Errorf("WHEP resource %s is not named by the session %s", v.sess.Location, g.SessionID)
	}
	if err := v.sess.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectNoMedia(t, b, s, g.PlaybackToken, 401, "playback-token-invalid")
	expectNoMedia(t, a, s, g.PlaybackToken, 401, "playback-token-invalid") // the other node knows too

	// Kicked by an operator: the token does not bring the viewer back, and the session
	// shows no operator name.
	g = fan.mustAccess(s.ID)
	v = mustWatchToken(t, b, s, g.PlaybackToken)
	v.waitPackets(t, "video", 5, 10*time.Second)
	r := a.raw("POST", "/v1/admin/sessions/"+g.SessionID+"/kick", "", "", map[string]string{"Authorization": "Bearer alice-operator-key-0123456789"})
	if r.status != 200 {
		t.Fatalf("kick: %d %s", r.status, r.body)
	}
	v.waitClosed(t, 3*time.Second)
	expectNoMedia(t, b, s, g.PlaybackToken, 403, "access-revoked") // its session is marked kicked
	if sr := b.raw("GET", "/v1/sessions/"+g.SessionID, "", "", nil); sr.status != 200 || strings.Contains(sr.body, "alice") || !strings.Contains(sr.body, "kicked") {
		t.Errorf("GET /v1/sessions after a kick by alice: %d %s", sr.status, sr.body)
	}

	// A token taken before a refund is refused after it.
	unused := fan.mustAccess(s.ID)
	a.deliver("evt_refund_fan", "charge.refunded", refundedCharge("pi_"+fan.id, 4900, true))
	expectNoMedia(t, b, s, unused.PlaybackToken, 403, "access-revoked")

	// Preview: two tokens taken at once give one preview, not two.
	curious := a.buyer("viewer-curious", testenv.IPMorocco)
	p1, p2 := curious.mustAccess(s.ID), curious.mustAccess(s.ID)
	if p1.Access != "preview" || p2.Access != "preview" {
		t.Fatalf("grants %+v %+v, want previews", p1, p2)
	}
	pv := mustWatchToken(t, b, s, p1.PlaybackToken)
	pv.waitPackets(t, "video", 5, 5*time.Second)
	pv.waitClosed(t, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	expectNoMedia(t, a, s, p2.PlaybackToken, 402, "preview-ended")
}

// scrape reads one gauge from a Prometheus text endpoint.
func scrape(t *testing.T, metricsURL, name string) float64 {
	t.Helper()
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", metricsURL, resp.StatusCode, err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("%s not in %s", name, metricsURL)
	return 0
}

// Item 6: metrics on their own address, a balanced publishers gauge, the Connect webhook
// secret, and completed checkouts that must match what livegate created.
func TestGateSmallerItems(t *testing.T) {
	db, args, env := moneyProcess(t)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	connectSecret := "whsec_" + randomSecret(t, "")
	n := startProcess(t, db, append(args, "--metrics-addr", metricsAddr), append(env, "STRIPE_CONNECT_WEBHOOK_SECRET="+connectSecret))
	metrics := "http://" + metricsAddr + "/metrics"

	if r := n.raw("GET", "/metrics", "", "", nil); r.status != 404 {
		t.Errorf("public /metrics with --metrics-addr: %d", r.status)
	}
	if _, ok := n.root()["metrics"]; ok {
		t.Error("GET / links /metrics although it is served elsewhere")
	}
	s := n.newStream()
	key := map[string]string{"Authorization": "Bearer " + s.StreamKey}
	for _, offer := range []string{onlyPCMU, offerSDP(t, false), offerSDP(t, true) + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"} {
		if r := n.raw("POST", "/whip/"+s.ID, "application/sdp", offer, key); r.status < 400 {
			t.Fatalf("bad WHIP offer accepted: %d", r.status)
		}
	}
	if g := scrape(t, metrics, "livegate_publishers"); g != 0 {
		t.Fatalf("livegate_publishers %v after failed negotiations, want 0", g)
	}
	p := publish(t, n, s, webrtc.MimeTypeVP8, 30)
	if g := scrape(t, metrics, "livegate_publishers"); g != 1 {
		t.Errorf("livegate_publishers %v while publishing, want 1", g)
	}
	if err := p.sess.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 3*time.Second, "no publisher counted after the publisher left", func() error {
		p := scrape(t, metrics, "livegate_publishers")
		return poll.Want(p == 0, "livegate_publishers %v", p)
	})

	// Connect: account.updated signed by the Connect endpoint's secret is accepted; by
	// any other secret it is not.
	acct := map[string]any{"id": "acct_livegate_e2e", "object": "account", "charges_enabled": true, "payouts_enabled": true, "details_submitted": true}
	if r := n.sendEvent("evt_acct_1", "account.updated", acct, time.Now(), connectSecret); r.status != 200 {
		t.Errorf("account.updated with the Connect secret: %d %s", r.status, r.body)
	}
	expectProblem(t, "account.updated with an unknown secret",
		n.sendEvent("evt_acct_2", "account.updated", acct, time.Now(), "whsec_"+randomSecret(t, "")), 400, "bad-signature")

	// Completed checkouts must be the Stripe session livegate created, in its mode.
	n.launchCountries()
	creator, paid := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	forger := n.buyer("viewer-forger", testenv.IPMorocco)
	co := forger.checkout("/v1/streams/" + paid.ID + "/checkout")
	wrongID := completedSession(co, "pi_forged_1")
	wrongID["id"] = "cs_test_someone_elses_session"
	n.deliver("evt_wrong_session", "checkout.session.completed", wrongID)
	wrongMode := completedSession(co, "pi_forged_2")
	wrongMode["mode"] = "subscription"
	n.deliver("evt_wrong_mode", "checkout.session.completed", wrongMode)
	if n.hasTicket(forger.id, paid.ID, creator) {
		t.Fatal("a completed event for another Stripe session (or mode) granted a ticket")
	}
	// A 100% discount: Stripe reports amount_total 0, and nothing was received.
	free := completedSession(co, "pi_discounted")
	free["amount_total"] = 0
	n.deliver("evt_discounted", "checkout.session.completed", free)
	if !n.hasTicket(forger.id, paid.ID, creator) {
		t.Fatal("the matching completed event granted no ticket")
	}
	for _, row := range n.earnings(creator) {
		if row.Gross != 0 || row.Fee != 0 {
			t.Errorf("earnings %+v after a fully discounted ticket, want gross 0 and fee 0", row)
		}
	}

	// The access and money planes are seen from outside too.
	for name, want := range map[string]float64{
		`livegate_webhooks_total{result="applied"}`:  4, // account.updated, two mismatched completions, the match
		`livegate_webhooks_total{result="rejected"}`: 1,
		`livegate_session_store_up`:                  1,
	} {
		if got := scrape(t, metrics, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// A node behind 1:1 NAT announces its public IPv4 address in place of its own local
// IPv4 address (IPv6, which has no such NAT, is announced as it is).
func TestNAT1To1AddressAnnounced(t *testing.T) {
	const public = "203.0.113.7" // TEST-NET-3: announced, never sent to
	n := startProcess(t, "", []string{"--nat-1to1-ips", public}, nil)
	s := n.newStream()
	r := n.raw("POST", "/whip/"+s.ID, "application/sdp", offerSDP(t, true), map[string]string{"Authorization": "Bearer " + s.StreamKey})
	if r.status != 201 {
		t.Fatalf("WHIP: %d %s", r.status, r.body)
	}
	var hosts []string
	for _, line := range strings.Split(r.body, "\r\n") {
		if f := strings.Fields(line); strings.HasPrefix(line, "a=candidate:") && len(f) >= 8 && f[7] == "host" {
			hosts = append(hosts, f[4])
		}
	}
	if len(hosts) == 0 {
		t.Fatalf("the answer has no host candidate:\n%s", r.body)
	}
	announced := false
	for _, h := range hosts {
		a, err := netip.ParseAddr(h)
		switch {
		case err != nil:
			t.Errorf("host candidate address %q", h)
		case a.Is4() && h != public:
			t.Errorf("local IPv4 address %s announced; want only %s (got %v)", h, public, hosts)
		case h == public:
			announced = true
		}
	}
	if !announced {
		t.Errorf("%s not announced: %v", public, hosts)
	}
}

// On Kubernetes the node announces the public address of the machine its pod runs on,
// read from the API with the pod's service account: the operator's annotation first.
// The API is a stand-in here (TLS, the service account's token, the Node object as the
// API serves it): no cluster runs where the tests do.
func TestPublicAddressFromTheKubernetesNode(t *testing.T) {
	const public = "198.51.100.9" // TEST-NET-2: announced, never sent to
	var asked atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sa-token" || r.URL.Path != "/api/v1/nodes/node-1" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		asked.Add(1)
		_, _ = io.WriteString(w, `{"metadata":{"name":"node-1","annotations":{"livegate.io/public-ip":"`+public+`"}},`+
			`"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.5"}]}}`)
	}))
	t.Cleanup(srv.Close)
	creds := t.TempDir()
	if err := os.WriteFile(filepath.Join(creds, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(creds, "token"), []byte("sa-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startProcess(t, "", []string{"--kube-node", "node-1", "--kube-api", srv.URL, "--kube-credentials", creds}, nil)
	if asked.Load() == 0 {
		t.Fatal("the node never asked the API for its Node")
	}
	s := n.newStream()
	r := n.raw("POST", "/whip/"+s.ID, "application/sdp", offerSDP(t, true), map[string]string{"Authorization": "Bearer " + s.StreamKey})
	if r.status != 201 {
		t.Fatalf("WHIP: %d %s", r.status, r.body)
	}
	if !strings.Contains(r.body, " "+public+" ") || strings.Contains(r.body, " 127.0.0.1 ") {
		t.Errorf("the answer's candidates do not announce the node's public address %s:\n%s", public, r.body)
	}

	// A node the API gives no public address for refuses to start, saying what to do.
	code, out := testenv.RunUntilExit(t, []string{"--kube-node", "node-2", "--kube-api", srv.URL, "--kube-credentials", creds}, nil, 20*time.Second)
	if code == 0 || !strings.Contains(out, "node-2") {
		t.Errorf("a node without a public address started (exit %d):\n%s", code, out)
	}
}
