package config

import (
	"bytes"
	"errors"
	"flag"
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
		{"--production", "--api-key", "0123456789abcdef0123", "--stripe-webhook-secret", "whsec_x", "--viewer-jwt-secret", "0123456789abcdef0123456789abcdef"},
		{"--operator-keys", "alice"},
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

func TestProductionNeedsStripeAndViewerKeys(t *testing.T) {
	ok := []string{"--production", "--api-key", "0123456789abcdef0123", "--viewer-jwt-secret", "0123456789abcdef0123456789abcdef",
		"--playback-secret", "fedcba9876543210fedcba9876543210"}
	c, err := Load(ok, env(map[string]string{"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"}), &bytes.Buffer{})
	if err != nil {
		t.Fatalf("production with Stripe from STRIPE_* variables: %v", err)
	}
	if c.StripeSecretKey != "sk_live_x" || c.StripeWebhookSecret != "whsec_x" {
		t.Fatalf("STRIPE_* not read: %+v", c)
	}
	if _, err := Load(ok, env(map[string]string{"STRIPE_SECRET_KEY": "sk_live_x"}), &bytes.Buffer{}); err == nil {
		t.Fatal("production without a webhook secret accepted")
	}
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
