package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/livegate/livegate/internal/access"
	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/ledger"
	"github.com/livegate/livegate/internal/paywall"
	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/sfu"
	"github.com/livegate/livegate/internal/store/sqlstore"
	"github.com/livegate/livegate/internal/streams"
	"github.com/livegate/livegate/internal/whip"
)

// newAPI builds the API over a real SQLite store and a loopback-only SFU.
func newAPI(t testing.TB) *api {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d := config.Default() // the one source of the node's defaults
	s, err := sfu.New(sfu.Config{Interfaces: []string{"lo"}, IncludeLoopback: true, DisableMDNS: true,
		PacketCacheSize: d.PacketCacheSize, PLIThrottle: d.PLIThrottle, ReconnectGrace: d.ReconnectGrace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	bill, err := billing.New(db, billing.Config{PublicURL: "http://localhost:8080"})
	if err != nil {
		t.Fatal(err)
	}
	res, _ := countries.NewResolver(countries.ResolverConfig{Default: "MA"})
	viewers, _ := access.NewViewerAuth(access.ViewerAuthConfig{})
	tokens, _ := access.NewPlaybackTokens("", 0)
	mem := sessions.NewMemory()
	gate, err := access.NewGate(mem, tokens, access.GateConfig{Node: "test", TTL: d.SessionTTL})
	if err != nil {
		t.Fatal(err)
	}
	lifecycle := streams.New(db, s, gate, nil, nil)
	wh, err := whip.New(s, db, whip.Config{PathParam: PathParam, Gate: gate, Lifecycle: lifecycle,
		MaxBodyBytes: d.MaxBodyBytes, MaxCandidates: d.MaxCandidates, MaxPatches: d.MaxPatches,
		MaxMediaSections: d.MaxMediaSections, MaxSDPLine: d.MaxSDPLine, MaxPatchBytes: d.MaxPatchBytes})
	if err != nil {
		t.Fatal(err)
	}
	return &api{Deps: Deps{Store: db, SFU: s, WHIP: wh,
		Billing: bill, Ledger: ledger.New(db, ledger.Config{}), Resolver: res, Viewers: viewers, Gate: gate, Streams: lifecycle,
		Decider:  &paywall.Decider{Entitlements: db, Offers: bill, Previews: mem},
		Gatherer: prometheus.NewRegistry(), MaxBody: 64 << 10, PublicURL: "http://localhost:8080",
		Logger: nil, Ready: func() bool { return true }, Relay: http.NotFoundHandler(), Parts: http.NotFoundHandler()}}
}

// The spec and the router must list the same operations.
func TestOpenAPIMatchesRouter(t *testing.T) {
	a := newAPI(t)
	a.Deps.Logger = discard()
	routes := map[string]bool{}
	err := chi.Walk(a.routes(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if len(route) > 1 {
			route = strings.TrimSuffix(route, "/")
		}
		routes[strings.ToLower(method)+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "api", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	documented := map[string]bool{}
	for path, ops := range spec.Paths {
		for method := range ops {
			switch method {
			case "get", "post", "put", "patch", "delete", "options", "head":
				documented[method+" "+path] = true
			}
		}
	}
	var missing, extra []string
	for r := range routes {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for d := range documented {
		if !routes[d] {
			extra = append(extra, d)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes not in api/openapi.yaml: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("api/openapi.yaml operations with no route: %v", extra)
	}
}

// FuzzCreateStreamJSON: whatever JSON arrives at the creator, stream or country
// endpoints, the API answers with a client error or the resource, never a 500, and always
// with a JSON body.
func FuzzCreateStreamJSON(f *testing.F) {
	a := newAPI(f)
	a.Deps.Logger = discard()
	h := a.routes()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/creators", strings.NewReader(`{"name":"fuzz"}`)))
	if rec.Code != 201 {
		f.Fatalf("create creator: %d %s", rec.Code, rec.Body)
	}
	f.Add("/v1/streams", `{"creator_id":"cr_x","title":"t"}`)
	f.Add("/v1/streams", `{"creator_id":"","title":"","access_mode":"free"}`)
	f.Add("/v1/creators", `{"name":"Amina"}`)
	f.Add("/v1/creators", `{"name":"a"}{"name":"b"}`)
	f.Add("/v1/streams", `[1,2,3]`)
	f.Add("/v1/admin/countries/MA", `{"enabled":true,"currency":"MAD","min_ticket":1000,"max_ticket":50000,"fee_bps":1500,"launch_at":"2026-01-01T00:00:00Z"}`)
	f.Add("/v1/admin/countries/JP", `{"currency":"JPY","min_ticket":4.5}`)
	f.Add("/v1/admin/countries/MA", `{"fee_bps":1e400}`)
	f.Fuzz(func(t *testing.T, path, body string) {
		method := "POST"
		switch path {
		case "/v1/streams", "/v1/creators":
		case "/v1/admin/countries/MA", "/v1/admin/countries/JP":
			method = "PUT"
		default:
			path = "/v1/streams"
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 201, 400, 413, 422:
		default:
			t.Fatalf("POST %s %q: status %d %s", path, body, rec.Code, rec.Body)
		}
		ct := rec.Header().Get("Content-Type")
		if !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/problem+json") {
			t.Fatalf("content type %q", ct)
		}
	})
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
