package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/testenv"
)

// platformToken is a token the embedding platform signs, with a role.
func platformToken(t *testing.T, secret, sub, role, creator string) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
	if role != "" {
		claims["role"] = role
	}
	if creator != "" {
		claims["creator_id"] = creator
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// A creator's token manages its own creator's streams, prices, onboarding and earnings,
// and nothing of another creator's: 403 problem+json. Operators keep full access, by key
// or by an operator token; a viewer's token opens none of it.
func TestCreatorTokenManagesOnlyItsOwn(t *testing.T) {
	const secret = "platform-jwt-secret-0123456789abcdef"
	n := startNode(t, func(c *config.Config) { c.ViewerJWTSecret = secret })
	n.launchCountries()
	mk := func(name string) string {
		var c struct{ ID string }
		if st := n.call("POST", "/v1/creators", map[string]any{"name": name, "country": "MA"}, &c); st != 201 {
			t.Fatalf("create creator: %d", st)
		}
		return c.ID
	}
	amina, omar := mk("Amina"), mk("Omar")
	var omarStream streamInfo
	if st := n.call("POST", "/v1/streams", map[string]any{"creator_id": omar, "title": "Omar live", "access_mode": "ticket"}, &omarStream); st != 201 {
		t.Fatalf("operator creates a stream: %d", st)
	}
	asAmina := map[string]string{"Authorization": "Bearer " + platformToken(t, secret, "user-amina", "creator", amina),
		"Content-Type": "application/json"}

	// Her own.
	r := n.raw("POST", "/v1/streams", "application/json", `{"title": "Amina live", "access_mode": "ticket"}`, asAmina)
	var own streamInfo
	if err := json.Unmarshal([]byte(r.body), &own); r.status != 201 || err != nil {
		t.Fatalf("a creator creates her stream: %d %s", r.status, r.body)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/streams/" + own.ID, ""},
		{"PUT", "/v1/streams/" + own.ID + "/prices", `{"prices": {"MAD": 4900}}`},
		{"GET", "/v1/creators/" + amina + "/earnings", ""},
		{"GET", "/v1/creators/" + amina, ""},
	} {
		if r := n.raw(c.method, c.path, "application/json", c.body, asAmina); r.status != 200 {
			t.Errorf("%s %s on her own: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	var list struct{ Streams []streamInfo }
	r = n.raw("GET", "/v1/streams", "", "", asAmina)
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || len(list.Streams) != 1 || list.Streams[0].ID != own.ID {
		t.Errorf("a creator's stream list: %d %s", r.status, r.body)
	}

	// Another creator's, and the operator's.
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/streams/" + omarStream.ID, ""},
		{"PATCH", "/v1/streams/" + omarStream.ID, `{"title": "mine now"}`},
		{"PUT", "/v1/streams/" + omarStream.ID + "/prices", `{"prices": {"MAD": 100}}`},
		{"GET", "/v1/streams/" + omarStream.ID + "/prices", ""},
		{"DELETE", "/v1/streams/" + omarStream.ID, ""},
		{"POST", "/v1/streams", fmt.Sprintf(`{"creator_id": %q, "title": "x"}`, omar)},
		{"GET", "/v1/streams?creator_id=" + omar, ""},
		{"GET", "/v1/creators/" + omar + "/earnings", ""},
		{"GET", "/v1/creators/" + omar, ""},
		{"POST", "/v1/creators/" + omar + "/connect", ""},
		{"PUT", "/v1/creators/" + omar + "/subscription-prices/MAD", `{"amount": 2500}`},
		{"POST", "/v1/creators", `{"name": "Mallory", "country": "MA"}`},
		{"GET", "/v1/admin/countries", ""},
		{"GET", "/v1/admin/sessions", ""},
		{"GET", "/v1/admin/payouts/manual.csv", ""},
	} {
		expectProblem(t, "creator token: "+c.method+" "+c.path, n.raw(c.method, c.path, "application/json", c.body, asAmina), 403, "forbidden")
	}
	if st := n.stream(omarStream.ID); st.State != "scheduled" {
		t.Errorf("another creator's stream after the refused calls: %+v", st)
	}

	viewer := map[string]string{"Authorization": "Bearer " + platformToken(t, secret, "viewer-1", "", "")}
	expectProblem(t, "a viewer token on the creator API", n.raw("GET", "/v1/streams", "", "", viewer), 403, "forbidden")
	forged := map[string]string{"Authorization": "Bearer " + platformToken(t, "another-secret-0123456789abcdefghij", "x", "operator", "")}
	expectProblem(t, "an operator token signed by someone else", n.raw("GET", "/v1/admin/countries", "", "", forged), 401, "unauthorized")
	op := map[string]string{"Authorization": "Bearer " + platformToken(t, secret, "ops-1", "operator", "")}
	if r := n.raw("GET", "/v1/streams/"+omarStream.ID, "", "", op); r.status != 200 {
		t.Errorf("an operator token: %d %s", r.status, r.body)
	}
	expectProblem(t, "a creator token without its creator", n.raw("GET", "/v1/streams", "", "",
		map[string]string{"Authorization": "Bearer " + platformToken(t, secret, "x", "creator", "")}), 401, "unauthorized")
}

// In development, /v1/admin/dev/tokens (and livegatectl token --role creator) mints
// creator tokens, held to their creator as the platform's are, on a node whose /v1 is
// otherwise open.
func TestDevCreatorTokens(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.APIKey = "" })
	var a, b struct{ ID string }
	n.call("POST", "/v1/creators", map[string]any{"name": "A", "country": "MA"}, &a)
	n.call("POST", "/v1/creators", map[string]any{"name": "B", "country": "MA"}, &b)
	var other streamInfo
	n.call("POST", "/v1/streams", map[string]any{"creator_id": b.ID, "title": "B live"}, &other)
	var tok struct{ Token, Role string }
	if st := n.call("POST", "/v1/admin/dev/tokens", map[string]any{"viewer_id": "user-a", "role": "creator", "creator_id": a.ID}, &tok); st != 201 || tok.Role != "creator" {
		t.Fatalf("mint a creator token: %d %+v", st, tok)
	}
	asA := map[string]string{"Authorization": "Bearer " + tok.Token}
	expectProblem(t, "a dev creator token on another creator's stream", n.raw("GET", "/v1/streams/"+other.ID, "", "", asA), 403, "forbidden")
	if r := n.raw("GET", "/v1/creators/"+a.ID, "", "", asA); r.status != 200 {
		t.Errorf("its own creator: %d %s", r.status, r.body)
	}
	expectProblem(t, "a creator token for no creator", n.raw("POST", "/v1/admin/dev/tokens", "application/json",
		`{"viewer_id": "x", "role": "creator", "creator_id": "cr_nobody"}`, nil), 422, "invalid-field")
}

// The catalog prices each stream in the viewer's own currency where it is for sale in
// the viewer's country, and says so where it is not: Morocco (MAD), South Africa (the
// ticket has no ZAR price), France (paid live not enabled).
func TestCatalogPricesForTheViewersCountry(t *testing.T) {
	n := startMoneyNode(t, nil)
	n.launchCountries()
	creator, ticket := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	if st := n.call("PUT", "/v1/creators/"+creator+"/subscription-prices/MAD", map[string]any{"amount": 2500}, nil); st != 200 {
		t.Fatalf("subscription price: %d", st)
	}
	var subs, free streamInfo
	n.call("POST", "/v1/streams", map[string]any{"creator_id": creator, "title": "Members night", "access_mode": "subscribers"}, &subs)
	n.call("POST", "/v1/streams", map[string]any{"creator_id": creator, "title": "Open rehearsal"}, &free)
	type entry struct {
		ID      string
		Creator struct{ Name string }
		Price   *struct{ Kind, Display string }
		ForSale bool `json:"for_sale"`
	}
	catalog := func(ip string) map[string]entry {
		t.Helper()
		r := n.raw("GET", "/v1/catalog", "", "", map[string]string{"X-Forwarded-For": ip})
		var out struct{ Streams []entry }
		if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != 200 {
			t.Fatalf("catalog from %s: %d %s", ip, r.status, r.body)
		}
		m := map[string]entry{}
		for _, e := range out.Streams {
			m[e.ID] = e
		}
		return m
	}
	ma := catalog(testenv.IPMorocco)
	if e := ma[ticket.ID]; e.Price == nil || e.Price.Display != "MAD 49.00" || e.Price.Kind != "ticket" || !e.ForSale || e.Creator.Name != "Yasmine" {
		t.Errorf("the ticket from Morocco: %+v", e)
	}
	if e := ma[subs.ID]; e.Price == nil || e.Price.Display != "MAD 25.00" || e.Price.Kind != "subscription" {
		t.Errorf("the subscribers' stream from Morocco: %+v", e)
	}
	for ip, name := range map[string]string{testenv.IPSouthAfrica: "South Africa (no ZAR price)", testenv.IPFrance: "France (not enabled)"} {
		c := catalog(ip)
		if e := c[ticket.ID]; e.Price != nil || e.ForSale {
			t.Errorf("the ticket from %s: %+v", name, e)
		}
		if e := c[free.ID]; !e.ForSale || e.Price != nil {
			t.Errorf("the free stream from %s: %+v", name, e)
		}
	}
	r := n.raw("GET", "/v1/catalog/"+ticket.ID, "", "", map[string]string{"X-Forwarded-For": testenv.IPMorocco})
	var one entry
	if err := json.Unmarshal([]byte(r.body), &one); err != nil || one.Price == nil || one.Price.Display != "MAD 49.00" {
		t.Errorf("one stream from Morocco: %d %s", r.status, r.body)
	}
	expectProblem(t, "an unknown stream", n.raw("GET", "/v1/catalog/str_nope", "", "", nil), 404, "stream-not-found")
}
