package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadPrecedence(t *testing.T) {
	c, err := Load([]string{"--udp-port", "9000"}, env(map[string]string{
		"LIVEGATE_UDP_PORT":       "8000",
		"LIVEGATE_HTTP_ADDR":      "127.0.0.1:9999",
		"LIVEGATE_STUN_SERVERS":   "stun:a:3478, stun:b:3478",
		"LIVEGATE_SHUTDOWN_GRACE": "3s",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.UDPPort != 9000 {
		t.Errorf("flag must beat env: udp port %d", c.UDPPort)
	}
	if c.HTTPAddr != "127.0.0.1:9999" || c.ShutdownGrace != 3*time.Second {
		t.Errorf("env not applied: %+v", c)
	}
	if len(c.STUNServers) != 2 || c.STUNServers[1] != "stun:b:3478" {
		t.Errorf("list parsing: %q", c.STUNServers)
	}
}

func TestLoadRejects(t *testing.T) {
	for _, args := range [][]string{
		{"--udp-port", "70000"},
		{"--packet-cache-size", "1000"},
		{"--nat-1to1-ips", "not-an-ip"},
		{"--stun-servers", "http://x"},
		{"--log-level", "loud"},
		{"--production"},
		{"--production", "--api-key", "short"},
		// The development checkout never runs in production.
		{"--production", "--api-key", strongAPIKey, "--stripe-webhook-secret", strongWebhookSecret, "--viewer-jwt-secret", strongJWTSecret,
			"--playback-secret", strongPlayback},
		{"--operator-keys", "alice"},
		{"--rate-limits", "checkout-viewer=5"},
		{"--rate-limits", "nosuch=1/s"},
		{"--max-cpu-percent", "150"},
		{"--max-sdp-line", "10"},
		{"--database-url", "mysql://x/y"},
		{"--database-url", "postgresql+pgx://db/livegate"},
		{"--database-url", "/var/lib/livegate/livegate.db"},
		{"--database-url", "sqlite:"},
	} {
		if _, err := Load(args, env(nil), &bytes.Buffer{}); err == nil {
			t.Errorf("Load(%v) accepted", args)
		}
	}
	if _, err := Load(nil, env(map[string]string{"LIVEGATE_UDP_PORT": "x"}), &bytes.Buffer{}); err == nil ||
		!strings.Contains(err.Error(), "LIVEGATE_UDP_PORT") {
		t.Errorf("bad env value: %v, want an error naming the variable", err)
	}
}

// Values shaped like real ones (random, as `openssl rand -hex` makes them).
const (
	strongAPIKey        = "9f3c1ab07e52d4c86b1e0fa3"
	strongJWTSecret     = "c4e81f0b9a27d3e65f108b7c2ad94e3f61b0c8d7"
	strongPlayback      = "71d0e9c3b8a2f64e05c1d7b93fa2e86c40b5d1e9"
	strongStripeKey     = "sk_live_51NzQk2HdR7vT3mWq9LbXy"
	strongWebhookSecret = "whsec_Qm4Tz8Lk2Vb7Nw1Rc5Hy9Jd3"
)

func strongProduction() []string {
	return []string{"--production", "--api-key", strongAPIKey, "--viewer-jwt-secret", strongJWTSecret, "--playback-secret", strongPlayback}
}

func TestRateLimitsOverrideDefaults(t *testing.T) {
	c, err := Load([]string{"--rate-limits", "checkout-viewer=3/m,collect=off"}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := c.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if r := rules["checkout-viewer"]; r.Count != 3 || r.Per != time.Minute || r.Burst != 3 {
		t.Errorf("checkout-viewer = %+v", r)
	}
	if !rules["collect"].Off() || rules["whep"].Off() {
		t.Errorf("collect off %v, whep off %v", rules["collect"].Off(), rules["whep"].Off())
	}
}

func TestProductionNeedsStripeAndViewerKeys(t *testing.T) {
	c, err := Load(strongProduction(), env(map[string]string{"STRIPE_SECRET_KEY": strongStripeKey, "STRIPE_WEBHOOK_SECRET": strongWebhookSecret}), &bytes.Buffer{})
	if err != nil {
		t.Fatalf("production with Stripe from STRIPE_* variables: %v", err)
	}
	if c.StripeSecretKey != strongStripeKey || c.StripeWebhookSecret != strongWebhookSecret {
		t.Fatalf("STRIPE_* not read: %+v", c)
	}
	if len(c.DevelopmentDefaults()) != 0 && c.DatabaseURL != "" {
		t.Fatalf("production node keeps development defaults: %v", c.DevelopmentDefaults())
	}
	if _, err := Load(strongProduction(), env(map[string]string{"STRIPE_SECRET_KEY": strongStripeKey}), &bytes.Buffer{}); err == nil {
		t.Fatal("production without a webhook secret accepted")
	}
}

// The databases livegate uses, and a fleet on SQLite refused in production.
func TestDatabaseURL(t *testing.T) {
	for _, u := range []string{"", "postgres://db/livegate", "postgresql://u@db:5432/livegate?sslmode=require", "sqlite:/tmp/livegate.db"} {
		if _, err := Load([]string{"--database-url", u}, env(nil), &bytes.Buffer{}); err != nil {
			t.Errorf("--database-url %q: %v", u, err)
		}
	}
	stripe := env(map[string]string{"STRIPE_SECRET_KEY": strongStripeKey, "STRIPE_WEBHOOK_SECRET": strongWebhookSecret})
	_, err := Load(append(strongProduction(), "--redis-url", "redis://redis:6379/0"), stripe, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--database-url postgres://") {
		t.Errorf("a production fleet on SQLite: %v", err)
	}
	if _, err := Load(append(strongProduction(), "--redis-url", "redis://redis:6379/0", "--database-url", "postgres://db/livegate"), stripe, &bytes.Buffer{}); err != nil {
		t.Errorf("a production fleet on PostgreSQL: %v", err)
	}
}

func TestLiveStripeKeyNeedsProduction(t *testing.T) {
	_, err := Load([]string{"--api-key", strongAPIKey}, env(map[string]string{"STRIPE_SECRET_KEY": "rk_live_51NzQk2HdR7vT3mWq9LbXy"}), &bytes.Buffer{})
	if err == nil {
		t.Fatal("a live restricted key started without --production")
	}
	for _, want := range []string{"--production", "STRIPE_WEBHOOK_SECRET", "--playback-secret", "--viewer-jwt"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	// A test key is a development setup and stays allowed.
	if _, err := Load(nil, env(map[string]string{"STRIPE_SECRET_KEY": "sk_test_51NzQk2HdR7vT3mWq9LbXy"}), &bytes.Buffer{}); err != nil {
		t.Fatalf("test key without --production: %v", err)
	}
}

func TestProductionRefusesWeakAndPlaceholderSecrets(t *testing.T) {
	stripe := env(map[string]string{"STRIPE_SECRET_KEY": strongStripeKey, "STRIPE_WEBHOOK_SECRET": strongWebhookSecret})
	for _, c := range []struct{ flag, value string }{
		{"--api-key", "aaaaaaaaaaaaaaaaaaaaaaaa"},                    // one character
		{"--api-key", "abcdefghijklmnopqrstuvwx"},                    // one kind, consecutive
		{"--api-key", "my-change-me-api-key-9876"},                   // placeholder word
		{"--playback-secret", "Example-Playback-1234567890qwertyui"}, // placeholder word
		{"--playback-secret", "short-9f3c1ab0"},                      // too short
		{"--viewer-jwt-secret", "0123456789abcdef0123456789abcdef"},  // consecutive run, and published
	} {
		args := append(strongProduction(), c.flag, c.value)
		_, err := Load(args, stripe, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%s %q: %v, want a refusal naming the flag", c.flag, c.value, err)
		}
	}
	_, err := Load(strongProduction(), env(map[string]string{"STRIPE_SECRET_KEY": "sk_live_...", "STRIPE_WEBHOOK_SECRET": strongWebhookSecret}), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "STRIPE_SECRET_KEY") {
		t.Errorf("placeholder Stripe key: %v", err)
	}
	// Webhook signing secrets typed by hand, and an S3 secret of three letters.
	for _, weak := range []string{"whsec_abc123abc123abc1", "whsec_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "my-webhook-key-0123456789abcdef", "whsec_" + strings.Repeat("ab", 16)} {
		_, err := Load(strongProduction(), env(map[string]string{"STRIPE_SECRET_KEY": strongStripeKey, "STRIPE_WEBHOOK_SECRET": weak}), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "STRIPE_WEBHOOK_SECRET") {
			t.Errorf("STRIPE_WEBHOOK_SECRET %q: %v, want refused", weak, err)
		}
	}
	s3 := append(strongProduction(), "--recordings-s3-bucket", "recordings", "--recordings-s3-endpoint", "https://s3.example.net", "--recordings-s3-access-key", "AKIAEXAMPLE")
	if _, err := Load(append(s3, "--recordings-s3-secret-key", "abc"), stripe, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--recordings-s3-secret-key") {
		t.Errorf("an S3 secret of three letters: %v, want refused", err)
	}
	if _, err := Load(append(s3, "--recordings-s3-secret-key", "q8Vd2LmZr4Xk9TnBw3Hy7PcF1sGj6Ue0Ao5Ri2Nt"), stripe, &bytes.Buffer{}); err != nil {
		t.Errorf("a strong S3 secret: %v", err)
	}
}

// Every secret written anywhere in the repository's deploy files, compose file and
// documentation is refused by --production, whatever it is.
func TestRepositorySecretsRefused(t *testing.T) {
	root := "../.."
	files := []string{"docker-compose.yml", "README.md", "deploy/livegate.env.example"}
	for _, pattern := range []string{"docs/*.md", "deploy/k8s/*.yaml"} {
		if docs, err := filepath.Glob(filepath.Join(root, pattern)); err == nil {
			for _, d := range docs {
				files = append(files, strings.TrimPrefix(d, root+"/"))
			}
		}
	}
	assign := regexp.MustCompile(`(?m)\b((?:LIVEGATE_)?(?:API_KEY|PLAYBACK_SECRET|VIEWER_JWT_SECRET)|STRIPE_SECRET_KEY|STRIPE_WEBHOOK_SECRET|STRIPE_CONNECT_WEBHOOK_SECRET)[ \t]*[:=][ \t]*"?([^"\s#}]+)`)
	found := 0
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		for _, m := range assign.FindAllStringSubmatch(string(raw), -1) {
			name, value := m[1], m[2]
			if strings.HasPrefix(value, "$") || value == "" {
				continue // taken from the environment
			}
			found++
			c := Default()
			c.Production = true
			c.StripeSecretKey, c.StripeWebhookSecret = strongStripeKey, strongWebhookSecret
			c.APIKey, c.PlaybackSecret, c.ViewerJWTSecret = strongAPIKey, strongPlayback, strongJWTSecret
			switch {
			case strings.HasSuffix(name, "API_KEY"):
				c.APIKey = value
			case strings.HasSuffix(name, "PLAYBACK_SECRET"):
				c.PlaybackSecret = value
			case strings.HasSuffix(name, "VIEWER_JWT_SECRET"):
				c.ViewerJWTSecret = value
			case name == "STRIPE_SECRET_KEY":
				c.StripeSecretKey = value
			case name == "STRIPE_WEBHOOK_SECRET":
				c.StripeWebhookSecret = value
			case name == "STRIPE_CONNECT_WEBHOOK_SECRET":
				c.StripeConnectWebhookSecret = value
			}
			if err := c.Validate(); err == nil {
				t.Errorf("%s: %s=%q passes --production", f, name, value)
			}
		}
	}
	// The published test and compose values too, which the scan above cannot see.
	for _, v := range repositoryValues {
		if secretProblem(v, 1, false) == "" {
			t.Errorf("published value %q accepted", v)
		}
	}
	t.Logf("%d secret assignments checked", found)
}

func TestHelpListsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	_, err := Load([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"-http-addr", "-database-url", "-udp-port", "-tcp-addr", "-nat-1to1-ips", "-stun-servers", "-shutdown-grace", "LIVEGATE_"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not mention %s", want)
		}
	}
}

// Two nodes started on one machine without --node-id still have names of their own.
func TestNodeIDDefaultsToHostAndPort(t *testing.T) {
	a, err := Load([]string{"--http-addr", "127.0.0.1:8081"}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Load([]string{"--http-addr", "127.0.0.1:8082"}, env(nil), &bytes.Buffer{})
	if a.NodeID == b.NodeID || !strings.HasSuffix(a.NodeID, "-8081") {
		t.Errorf("node ids %q and %q", a.NodeID, b.NodeID)
	}
	named, _ := Load([]string{"--node-id", "edge-1"}, env(nil), &bytes.Buffer{})
	fromEnv, _ := Load(nil, env(map[string]string{"LIVEGATE_NODE_ID": "edge-2"}), &bytes.Buffer{})
	if named.NodeID != "edge-1" || fromEnv.NodeID != "edge-2" {
		t.Errorf("named %q, from the environment %q", named.NodeID, fromEnv.NodeID)
	}
}

// Nodes on one machine given their own --udp-port get their own ICE-TCP port.
func TestTCPPortFollowsUDPPort(t *testing.T) {
	c, err := Load([]string{"--udp-port", "7892"}, env(nil), &bytes.Buffer{})
	if err != nil || c.TCPAddr != ":7892" {
		t.Errorf("tcp-addr %q (%v), want :7892", c.TCPAddr, err)
	}
	c, _ = Load([]string{"--udp-port", "7892", "--tcp-addr", ":9000"}, env(nil), &bytes.Buffer{})
	if c.TCPAddr != ":9000" {
		t.Errorf("an explicit --tcp-addr was replaced: %q", c.TCPAddr)
	}
	c, _ = Load(nil, env(map[string]string{"LIVEGATE_UDP_PORT": "7900"}), &bytes.Buffer{})
	if c.TCPAddr != ":7900" {
		t.Errorf("from the environment: %q", c.TCPAddr)
	}
	c, _ = Load(nil, env(nil), &bytes.Buffer{})
	if c.TCPAddr != Default().TCPAddr {
		t.Errorf("the default changed: %q", c.TCPAddr)
	}
}

func TestRelayUDPPorts(t *testing.T) {
	for _, c := range []struct {
		in     string
		lo, hi uint16
		ok     bool
	}{
		{"", 0, 0, true}, {"50000-50999", 50000, 50999, true}, {"40000-40000", 40000, 40000, true},
		{"50999-50000", 0, 0, false}, {"0-10", 0, 0, false}, {"50000", 0, 0, false}, {"1-70000", 0, 0, false}, {"a-b", 0, 0, false},
	} {
		cfg := Default()
		cfg.RelayUDPPorts = c.in
		lo, hi, err := cfg.RelayPortRange()
		if (err == nil) != c.ok || lo != c.lo || hi != c.hi {
			t.Errorf("%q: %d-%d %v", c.in, lo, hi, err)
		}
		if verr := cfg.Validate(); (verr == nil) != c.ok && c.ok {
			t.Errorf("%q: Validate: %v", c.in, verr)
		}
	}
}
