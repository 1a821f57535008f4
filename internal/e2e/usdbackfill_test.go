package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/testenv"
)

// growthRow is the growth report's row for country in the current month.
func (n *testNode) growthNow(country string) (creators1k, unconverted int) {
	n.t.Helper()
	month := time.Now().UTC().Format("2006-01")
	var rep struct {
		Rows []struct {
			Country, Month string
			C1k            int `json:"creators_1k"`
			Unconverted    int `json:"unconverted_entries"`
		}
	}
	if st := n.call("GET", "/v1/admin/reports/growth?from="+month+"&to="+month+"&country="+country, nil, &rep); st != 200 {
		n.t.Fatalf("growth report: %d", st)
	}
	for _, r := range rep.Rows {
		if r.Country == country && r.Month == month {
			return r.C1k, r.Unconverted
		}
	}
	return 0, 0
}

// Sales booked while their currency had no USD rate reach the growth report once a rate
// is set: setting (PUT /v1/admin/usd-rates) converts the entries of its days that had
// none, a refund at its sale's rate, each entry once, in one audited change; a node
// started with a --usd-rates file does the same for history imported without rates.
func TestSalesBeforeARateReachTheGrowthReport(t *testing.T) {
	settings := moneySettings(t)
	n := startNode(t, settings)
	n.launchCountries()
	creator, s := n.ticketStream("MA", map[string]int64{"MAD": 50_000}) // MAD 500.00: MAD 425.00 net, over USD 1,000 at 3 (a test rate)
	buyers := []string{"viewer-a", "viewer-b", "viewer-c"}
	for _, id := range buyers {
		n.buyer(id, testenv.IPMorocco).buyTicket(s.ID)
	}
	n.deliver("evt_refund_c", "charge.refunded", refundedCharge("pi_viewer-c", 50_000, true))
	if c1k, unconverted := n.growthNow("MA"); c1k != 0 || unconverted != 4 {
		t.Fatalf("before any MAD rate: %d creators over USD 1,000, %d unconverted entries; want 0 and 4", c1k, unconverted)
	}

	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	var set struct{ Converted int }
	if st := n.call("PUT", "/v1/admin/usd-rates", map[string]any{"rates": []map[string]string{
		{"date": yesterday, "currency": "MAD", "usd_per_unit": "3"}}}, &set); st != 200 || set.Converted != 4 {
		t.Fatalf("set the MAD rate: %d, %d entries converted, want 4", st, set.Converted)
	}
	if c1k, unconverted := n.growthNow("MA"); c1k != 1 || unconverted != 0 {
		t.Errorf("after the MAD rate: %d creators over USD 1,000, %d unconverted; want 1 and 0", c1k, unconverted)
	}
	var usdNet int64
	for _, e := range n.ledger(creator) {
		if e.USDRate != "3" || e.USDRateSource != "table" {
			t.Errorf("ledger entry %s %s: rate %q (%s)", e.Kind, e.PaymentIntent, e.USDRate, e.USDRateSource)
		}
		usdNet += e.USDNet
	}
	if usdNet != 2*42_500*3 { // two sales kept, MAD 425.00 net each, at 3
		t.Errorf("the ledger's USD net: %d cents, want %d", usdNet, 2*42_500*3)
	}
	// Converted once: a later rate for the same days changes nothing booked.
	if st := n.call("PUT", "/v1/admin/usd-rates", map[string]any{"rates": []map[string]string{
		{"date": yesterday, "currency": "MAD", "usd_per_unit": "4"}}}, &set); st != 200 || set.Converted != 0 {
		t.Errorf("a second rate: %d, %d converted, want none", st, set.Converted)
	}
	for _, e := range n.ledger(creator) {
		if e.USDRate != "3" {
			t.Errorf("an entry converted twice: %+v", e)
		}
	}
	var audit struct {
		Audit []struct {
			Actor, Object string
			After         struct{ Converted int }
		}
	}
	n.call("GET", "/v1/admin/audit?object=ledger:usd", nil, &audit)
	if len(audit.Audit) != 1 || audit.Audit[0].After.Converted != 4 || audit.Audit[0].Actor == "" {
		t.Errorf("the conversion's audit: %+v", audit.Audit)
	}

	// History imported with no rate anywhere, then a node started with a rates file.
	var za struct{ ID string }
	n.call("POST", "/v1/creators", map[string]any{"name": "Thandi", "country": "ZA"}, &za)
	if st := n.call("POST", "/v1/admin/ledger/import", map[string]any{"entries": []map[string]any{{"id": "zar-1", "kind": "sale",
		"creator_id": za.ID, "country": "ZA", "currency": "ZAR", "gross": 2_500_000, "fee": 250_000, "created_at": time.Now().Add(-time.Hour)}}}, nil); st != 200 {
		t.Fatalf("import: %d", st)
	}
	if _, unconverted := n.growthNow("ZA"); unconverted != 1 {
		t.Fatalf("imported ZAR without a rate: %d unconverted, want 1", unconverted)
	}
	file := t.TempDir() + "/usd-rates.csv"
	if err := os.WriteFile(file, []byte("date,currency,usd_per_unit\n"+yesterday+",ZAR,0.055\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startNode(t, chain(settings, func(c *config.Config) { c.USDRates = file }))
	if c1k, unconverted := b.growthNow("ZA"); c1k != 1 || unconverted != 0 {
		t.Errorf("after a node started with a ZAR rate: %d over USD 1,000, %d unconverted; want 1 and 0", c1k, unconverted)
	}
}
