package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// The CLI against a real node: create a creator and a stream, list, end.
func TestCLIAgainstNode(t *testing.T) {
	cfg := testenv.LoopbackConfig(t)
	cfg.APIKey = "cli-test-key-0123456789"
	n := testenv.StartNode(t, cfg)

	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		full := append([]string{"--url", n.URL(), "--api-key", cfg.APIKey}, args...)
		if err := run(context.Background(), full, &out, &errOut); err != nil {
			t.Fatalf("livegatectl %v: %v (%s)", args, err, errOut.String())
		}
		return out.String()
	}
	field := func(out, key string) string {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == key {
				return f[1]
			}
		}
		t.Fatalf("no %s in %q", key, out)
		return ""
	}
	creator := field(cli("creators", "create", "Amina"), "id")
	created := cli("streams", "create", creator, "Sunday show")
	id := field(created, "id")
	if field(created, "stream_key") == "" || !strings.Contains(created, "/whip/"+id) {
		t.Fatalf("stream create output lacks key or WHIP URL:\n%s", created)
	}
	if list := cli("streams", "list", "--state", "scheduled"); !strings.Contains(list, id) || !strings.Contains(list, "STATE") {
		t.Fatalf("list:\n%s", list)
	}
	if got := field(cli("streams", "access", id, "--preview-seconds", "30", "--session-policy", "replace"), "session_policy"); got != "replace" {
		t.Fatalf("streams access: session_policy %s", got)
	}
	if list := cli("sessions", "list", "--stream", id); !strings.Contains(list, "SESSION") {
		t.Fatalf("sessions list:\n%s", list)
	}
	if err := run(context.Background(), []string{"--url", n.URL(), "--api-key", cfg.APIKey, "sessions", "kick", "nope"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("kick unknown session: %v", err)
	}
	if got := field(cli("streams", "end", id), "state"); got != "ended" {
		t.Fatalf("state after end: %s", got)
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"--url", n.URL(), "--api-key", "wrong", "streams", "list"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong key: %v", err)
	}
}

// The operator's country workflow and the money reports, against a real node.
func TestCLICountriesAndMoney(t *testing.T) {
	cfg := testenv.LoopbackConfig(t)
	cfg.APIKey = "cli-test-key-0123456789"
	cfg.DefaultCountry = "MA"
	n := testenv.StartNode(t, cfg)
	run1 := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"--url", n.URL(), "--api-key", cfg.APIKey}, args...), &out, &errOut)
		return out.String(), err
	}
	cli := func(args ...string) string {
		t.Helper()
		out, err := run1(args...)
		if err != nil {
			t.Fatalf("livegatectl %v: %v", args, err)
		}
		return out
	}
	cli("countries", "set", "MA", "--currency", "MAD", "--min-ticket", "1000", "--max-ticket", "50000",
		"--min-sub", "2000", "--max-sub", "20000", "--fee-bps", "1500", "--payouts", "manual", "--launch-at", "2026-01-01")
	shown := cli("countries", "enable", "MA")
	if !strings.Contains(shown, "enabled") || !strings.Contains(shown, "yes") || !strings.Contains(shown, "MAD 10.00 .. MAD 500.00") || !strings.Contains(shown, "15.00%") {
		t.Fatalf("enable output:\n%s", shown)
	}
	list := cli("countries", "list")
	if !strings.Contains(list, "MA") || !strings.Contains(list, "FEE WAIVED UNTIL") {
		t.Fatalf("countries list:\n%s", list)
	}
	if _, err := run1("countries", "set", "MA", "--fee-bps", "20000"); err == nil || !strings.Contains(err.Error(), "fee_bps") {
		t.Fatalf("bad fee: %v", err)
	}
	audit := cli("countries", "audit", "MA")
	if !strings.Contains(audit, "enabled: false -> true") || !strings.Contains(audit, "operator") {
		t.Fatalf("audit:\n%s", audit)
	}
	creator := strings.Fields(strings.Split(cli("creators", "create", "--country", "MA", "Amina"), "\n")[0])[1]
	if tok := strings.TrimSpace(cli("token", "viewer-1")); strings.Count(tok, ".") != 2 {
		t.Fatalf("token %q is not a JWT", tok)
	}
	if e := cli("earnings", creator); !strings.Contains(e, "MONTH") {
		t.Fatalf("earnings:\n%s", e)
	}
	if csv := cli("payouts", "export"); !strings.HasPrefix(csv, "creator_id,") {
		t.Fatalf("payouts export:\n%s", csv)
	}
	// Nothing is owed yet: a payout is refused, unless the operator says it was made anyway.
	if _, err := run1("payouts", "record", creator, "MAD", "5000", "--reference", "TRX-1"); err == nil || !strings.Contains(err.Error(), "owed") {
		t.Fatalf("a payout of more than is owed: %v", err)
	}
	if out := cli("payouts", "record", creator, "MAD", "5000", "--reference", "TRX-1", "--allow-negative", "--paid-at", "2026-11-30"); !strings.Contains(out, "MAD 50.00 on 2026-11-30") ||
		!strings.Contains(out, "owed MAD -50.00  (negative") {
		t.Fatalf("payouts record:\n%s", out)
	}
	if list := cli("payouts", "list", creator); !strings.Contains(list, "TRX-1") || !strings.Contains(list, "MAD 50.00") {
		t.Fatalf("payouts list:\n%s", list)
	}
	if csv := cli("payouts", "export", "--period", "2026-11"); !strings.Contains(csv, creator+",Amina,MA,MAD,2026-11,0,0,0,0,0,0,0,5000,-5000,MAD -50.00,0,2026-11-30T00:00:00Z,TRX-1,negative") {
		t.Fatalf("payouts export --period:\n%s", csv)
	}
	added := cli("bans", "add", "viewer-spam", "--for", "1h", "--creator", creator, "--reason", "spam")
	if !strings.Contains(added, "sessions_ended") || !strings.Contains(added, "creator") {
		t.Fatalf("bans add:\n%s", added)
	}
	bans := cli("bans", "list", "viewer-spam")
	fields := strings.Fields(strings.Split(bans, "\n")[1])
	if len(fields) < 5 || fields[1] != "viewer-spam" || fields[2] != "creator" {
		t.Fatalf("bans list:\n%s", bans)
	}
	if out := cli("bans", "lift", fields[0]); !strings.Contains(out, "lifted_at") {
		t.Fatalf("bans lift:\n%s", out)
	}
	if list := cli("bans", "list", "viewer-spam"); strings.Contains(list, fields[0]) {
		t.Fatalf("a lifted ban is listed as active:\n%s", list)
	}
}

// The operator's growth report, promo codes and webhooks out, against a real node.
func TestCLIGrowthPromoAndWebhooks(t *testing.T) {
	cfg := testenv.LoopbackConfig(t)
	cfg.APIKey = "cli-test-key-0123456789"
	n := testenv.StartNode(t, cfg)
	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append([]string{"--url", n.URL(), "--api-key", cfg.APIKey}, args...), &out, &errOut); err != nil {
			t.Fatalf("livegatectl %v: %v (%s)", args, err, errOut.String())
		}
		return out.String()
	}
	ctx := context.Background()
	var seed []store.LedgerEntry
	for i, c := range []struct {
		creator string
		at      time.Time
		usd     int64
	}{
		{"cr_cli_a", time.Date(2025, 11, 3, 0, 0, 0, 0, time.UTC), 150_000},
		{"cr_cli_a", time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), 1_500_000},
		{"cr_cli_b", time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC), 200_000},
	} {
		if i != 1 {
			if err := n.Store.CreateCreator(ctx, store.Creator{ID: c.creator, Name: c.creator, Country: "MA", CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		seed = append(seed, store.LedgerEntry{ID: fmt.Sprintf("led_cli_%d", i), Kind: store.LedgerSale, CreatorID: c.creator, Country: "MA",
			Currency: "MAD", Gross: c.usd * 12, Fee: c.usd * 2, Net: c.usd * 10, Payouts: "manual", StripeEventID: "seed",
			StripeObject: fmt.Sprintf("seed_%d", i), CreatedAt: c.at, USDNet: c.usd, USDGross: c.usd * 12 / 10, USDRate: "0.1", USDRateSource: "table"})
	}
	if _, err := n.Store.SeedLedger(ctx, seed); err != nil {
		t.Fatal(err)
	}
	// Rates and history through the CLI too: one more creator over USD 1,000 in November 2026.
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/rates.csv", []byte("date,currency,usd_per_unit\n2026-01-01,MAD,0.10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := cli("usd-rates", "set", dir+"/rates.csv"); !strings.Contains(out, "2026-01-01") || !strings.Contains(out, "0.10") {
		t.Fatalf("usd-rates set:\n%s", out)
	}
	if err := n.Store.CreateCreator(ctx, store.Creator{ID: "cr_cli_c", Name: "c", Country: "MA", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	hist := `[{"id": "h1", "kind": "sale", "creator_id": "cr_cli_c", "currency": "MAD", "gross": 1200000, "fee": 0, "created_at": "2026-11-20T10:00:00Z"}]`
	if err := os.WriteFile(dir+"/history.json", []byte(hist), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := cli("ledger", "import", dir+"/history.json"); !regexp.MustCompile(`added\s+1`).MatchString(out) {
		t.Fatalf("ledger import:\n%s", out)
	}
	report := cli("report", "growth", "--from", "2026-11", "--to", "2026-11")
	if !strings.Contains(report, ">=$1K") || !regexp.MustCompile(`MA\s+2026-11\s+3\s+1\s+\+200\.0%\s+1\s+0\s+-\s+0`).MatchString(report) {
		t.Fatalf("report growth:\n%s", report)
	}
	if csv := cli("report", "growth", "--from", "2026-11", "--to", "2026-11", "--csv"); !strings.Contains(csv, "MA,2026-11,3,1,200.0,1,0,,0") {
		t.Fatalf("report growth --csv:\n%s", csv)
	}
	if out := cli("promo", "create", "cr_cli_a", "spring10", "--percent", "10", "--max", "5"); !strings.Contains(out, "SPRING10") {
		t.Fatalf("promo create:\n%s", out)
	}
	if out := cli("promo", "list", "cr_cli_a"); !strings.Contains(out, "SPRING10") || !strings.Contains(out, "10%") {
		t.Fatalf("promo list:\n%s", out)
	}
	added := cli("webhooks", "add", "http://127.0.0.1:9/hooks", "--events", "tip.received,stream.live")
	if !strings.Contains(added, "lgwhsec_") {
		t.Fatalf("webhooks add prints no secret:\n%s", added)
	}
	if out := cli("webhooks", "list"); !strings.Contains(out, "http://127.0.0.1:9/hooks") || strings.Contains(out, "lgwhsec_") {
		t.Fatalf("webhooks list (no secret shown again):\n%s", out)
	}
	if out := cli("webhooks", "deliveries"); !strings.HasPrefix(out, "DELIVERY") {
		t.Fatalf("webhooks deliveries:\n%s", out)
	}
}

// Asking for help is not an error (exit 0); no command, or an unknown one, is.
func TestHelpIsNotAnError(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, &out, &errOut); err != nil || !strings.Contains(errOut.String(), "payouts record") {
			t.Errorf("livegatectl %v: %v, usage shown: %v", args, err, strings.Contains(errOut.String(), "payouts record"))
		}
	}
	for _, args := range [][]string{nil, {"nosuch", "command"}} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, &out, &errOut); err == nil {
			t.Errorf("livegatectl %v: no error", args)
		}
	}
}
