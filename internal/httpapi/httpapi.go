// Package httpapi is livegate's HTTP surface: routing, operator authentication, JSON
// resources under /v1, WHIP/WHEP mounting, health and metrics. Errors are
// application/problem+json everywhere.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/livegate/livegate/internal/access"
	"github.com/livegate/livegate/internal/admission"
	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/cluster"
	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/ledger"
	"github.com/livegate/livegate/internal/paywall"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/sfu"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/streams"
	"github.com/livegate/livegate/internal/tipfeed"
	"github.com/livegate/livegate/internal/web"
	"github.com/livegate/livegate/internal/whip"
)

// Deps are what the API serves.
type Deps struct {
	Store    Store
	SFU      *sfu.SFU
	WHIP     *whip.Handler
	Billing  *billing.Service
	Ledger   *ledger.Books
	Resolver *countries.Resolver
	Viewers  *access.ViewerAuth
	Gate     *access.Gate
	Decider  *paywall.Decider
	Streams  *streams.Lifecycle
	// Gatherer serves /metrics on the public listener; nil when metrics have a listener
	// of their own (--metrics-addr).
	Gatherer prometheus.Gatherer
	APIKey   string // empty: /v1 is open (development only)
	// OperatorKeys are more operator keys by name; the name is the actor in audit logs.
	OperatorKeys map[string]string
	Production   bool
	// WebhookAllowNetworks are the operator's networks webhooks out may go to besides
	// public addresses.
	WebhookAllowNetworks []netip.Prefix
	// Development lists the development defaults in force (GET / shows them).
	Development []string
	PublicURL   string
	MaxBody     int64
	Logger      *slog.Logger
	// Ready reports whether the node takes new work; false while draining.
	Ready func() bool
	// StoreHealth says whether the database answers (nil: it does, or none is checked):
	// /readyz fails while it does not, so that a load balancer sends no one here.
	StoreHealth func() error
	// Limits rate-limits viewers' calls per client and per viewer; nil limits nothing.
	Limits *admission.Limits
	// EventStreams caps open server-sent event streams; nil caps nothing.
	EventStreams *admission.Conns
	// Relay serves other nodes' pulls (/internal/relay/{stream}); nil on a single node.
	Relay http.Handler
	// Parts serves this node's recording parts to the fleet's other nodes
	// (/internal/parts); nil when there is no fleet, or its recordings are in a bucket.
	Parts http.Handler
	// Fleet tells where a stream's origin is; nil on a single node.
	Fleet Fleet
	// Recordings serves replays' parts; Replays signs and checks their links.
	// ReplayWindow and RecordingRetention are the node's defaults.
	Recordings         ReplayStorage
	Replays            *access.PlaybackTokens
	ReplayWindow       time.Duration
	RecordingRetention time.Duration
	// ReplayRequests counts replay link requests by status; nil counts nothing.
	ReplayRequests *prometheus.CounterVec
	// Recorder deletes recordings and tells a live part's progress (recording.Recorder).
	Recorder Recorder
	// Tips brings paid tips to the stream's event streams; nil sends none.
	Tips *tipfeed.Feed
	// WebhooksWake tells the webhook dispatcher a delivery is due now.
	WebhooksWake func()
}

// Recorder is what the API asks of the node's recorder.
type Recorder interface {
	Delete(ctx context.Context, streamID string) (parts int, err error)
	// Progress is the part being recorded here now: fresher than its stored checkpoint.
	Progress(streamID string) (recordingID string, bytes, durationMS int64, ok bool)
}

// ReplayStorage is where recordings' parts are read from (recording.Dir).
type ReplayStorage interface {
	Open(key string) (io.ReadSeekCloser, time.Time, error)
}

// Fleet is what the API shows of the fleet (cluster.Fleet).
type Fleet interface {
	OriginID(ctx context.Context, stream string) (node string, ok bool, err error)
	Nodes(ctx context.Context) ([]cluster.Node, error)
	Others(ctx context.Context) ([]cluster.Node, error)
	// OpenPart reads a recording part kept on another node of the fleet.
	OpenPart(ctx context.Context, node, key string) (io.ReadSeekCloser, time.Time, error)
}

type api struct {
	Deps
	keys []namedKey
}

type namedKey struct {
	name string
	hash [32]byte
}

// New returns the node's HTTP handler.
func New(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.MaxBody <= 0 {
		d.MaxBody = 64 << 10
	}
	if d.Ready == nil {
		d.Ready = func() bool { return true }
	}
	a := &api{Deps: d}
	if d.APIKey != "" {
		a.keys = append(a.keys, namedKey{"operator", sha256.Sum256([]byte(d.APIKey))})
	}
	for name, key := range d.OperatorKeys {
		a.keys = append(a.keys, namedKey{name, sha256.Sum256([]byte(key))})
	}
	return a.routes()
}

// PathParam reads a chi path parameter; the WHIP handlers use it.
func PathParam(r *http.Request, name string) string { return chi.URLParam(r, name) }

// StreamParam reads the {stream} path parameter.
func StreamParam(r *http.Request) string { return chi.URLParam(r, "stream") }

func (a *api) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(a.recoverer, a.accessLog)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		problem.Answer(w, r, problem.ErrNotFound.With("no such route"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		problem.Answer(w, r, problem.ErrMethod.With(r.Method+" is not allowed here"))
	})

	r.Get("/static/i18n.js", web.Strings)
	r.Get("/static/ice.js", web.ICE)
	r.Get("/studio", web.Studio)
	r.Get("/admin", web.Admin)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		// A browser gets the catalog page; an API client, what the node is.
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			web.Catalog(w, r)
			return
		}
		dev := a.Development
		if dev == nil {
			dev = []string{}
		}
		out := map[string]any{"name": "livegate", "api": "/v1", "spec": "api/openapi.yaml in the repository",
			"whip": "/whip/{stream}", "whep": "/whep/{stream}", "health": "/healthz",
			"development_checkout": a.Billing.DevMode(), "development": dev}
		if a.Gatherer != nil {
			out["metrics"] = "/metrics"
		}
		writeJSON(w, http.StatusOK, out)
	})
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	r.Get("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !a.Ready() {
			problem.Answer(w, r, sfu.ErrDraining)
			return
		}
		if a.StoreHealth != nil {
			if err := a.StoreHealth(); err != nil {
				problem.Answer(w, r, err)
				return
			}
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	if a.Gatherer != nil {
		r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(a.Gatherer, promhttp.HandlerOpts{}))
	}

	r.Route("/v1", func(r chi.Router) {
		// Operator and creator API.
		r.Group(func(r chi.Router) {
			r.Use(a.requireAPIKey)
			r.With(a.operatorOnly).Post("/creators", a.createCreator)
			r.With(a.ownCreator).Get("/creators/{id}", a.getCreator)
			r.With(a.ownCreator).Post("/creators/{id}/connect", a.connectCreator)
			r.With(a.ownCreator).Put("/creators/{id}/subscription-prices/{currency}", a.putSubscriptionPrice)
			r.With(a.ownCreator).Get("/creators/{id}/earnings", a.earnings)
			r.With(a.ownCreator).Get("/creators/{id}/payouts", a.creatorPayouts)
			r.With(a.ownCreator).Post("/creators/{id}/promo-codes", a.createPromoCode)
			r.With(a.ownCreator).Get("/creators/{id}/promo-codes", a.listPromoCodes(func(r *http.Request) string { return chi.URLParam(r, "id") }))
			r.Get("/pricing", a.priceBounds)
			r.Post("/streams", a.createStream) // a creator token: its own creator_id only
			r.Get("/streams", a.listStreams)   // a creator token: its own streams only
			r.With(a.ownStream).Get("/streams/{id}", a.getStream)
			r.With(a.ownStream).Delete("/streams/{id}", a.endStream)
			r.With(a.ownStream).Put("/streams/{id}/prices", a.putStreamPrices)
			r.With(a.ownStream).Get("/streams/{id}/prices", a.streamPrices)
			r.With(a.ownStream).Get("/streams/{id}/recording", a.streamRecording)
			r.With(a.ownStream).Delete("/streams/{id}/recording", a.deleteRecording)
			r.With(a.ownStream).Patch("/streams/{id}", a.patchStream)

			r.Group(func(r chi.Router) { // the rest is the operator's
				r.Use(a.operatorOnly)
				r.Get("/admin/countries", a.listCountries)
				r.Get("/admin/countries/{code}", a.getCountry)
				r.Put("/admin/countries/{code}", a.putCountry)
				r.Post("/admin/countries/{code}/enable", a.enableCountry(true))
				r.Post("/admin/countries/{code}/disable", a.enableCountry(false))
				r.Get("/admin/sessions", a.listSessions)
				r.Post("/admin/sessions/{id}/kick", a.kickSession)
				r.Post("/admin/bans", a.createBan)
				r.Get("/admin/bans", a.listBans)
				r.Delete("/admin/bans/{id}", a.liftBan)
				r.Get("/admin/audit", a.listAudit)
				r.Get("/admin/nodes", a.listNodes)
				r.Get("/admin/payouts/manual.csv", a.manualPayoutsCSV)
				r.Get("/admin/payouts/manual", a.manualBalances)
				r.Post("/admin/payouts", a.recordPayout)
				r.Get("/admin/payouts", a.listPayouts)
				r.Get("/admin/promo-codes", a.listPromoCodes(func(*http.Request) string { return "" }))
				r.Get("/admin/reports/growth", a.growthReport)
				r.Get("/admin/reports/growth.csv", a.growthReport)
				r.Post("/admin/ledger/import", a.importLedger)
				r.Put("/admin/usd-rates", a.putUSDRates)
				r.Get("/admin/usd-rates", a.usdRates)
				r.Post("/admin/webhooks/endpoints", a.createWebhookEndpoint)
				r.Get("/admin/webhooks/endpoints", a.listWebhookEndpoints)
				r.Delete("/admin/webhooks/endpoints/{id}", a.deleteWebhookEndpoint)
				r.Get("/admin/webhooks/deliveries", a.listDeliveries)
				r.Get("/admin/webhooks/deliveries/{id}", a.getDelivery)
				r.Post("/admin/webhooks/deliveries/{id}/replay", a.replayDelivery)
				if a.devTokens() {
					r.Post("/admin/dev/tokens", a.mintDevToken)
				}
			})
		})
		// Viewers, with the platform's JWT. A viewer page may call any node of a fleet
		// (it moves to another when its node goes away), so these answer CORS.
		r.Group(func(r chi.Router) {
			r.Use(cors)
			r.Post("/streams/{id}/access", a.streamAccess)
			r.Post("/streams/{id}/replay", a.countReplays(a.streamReplay))
			r.Options("/streams/{id}/access", preflight)
			r.Post("/streams/{id}/collect", a.collect)
			r.Get("/streams/{id}/stats", a.streamStats)
			r.Get("/streams/{id}/stats/events", a.streamStatsEvents)
			r.Get("/streams/{id}/tips", a.streamTips)
			r.Get("/sessions/{id}", a.sessionStatus)
			r.Get("/catalog", a.listCatalog)
			r.Get("/catalog/{id}", a.catalogStream)
		})
		r.Post("/streams/{id}/checkout", a.ticketCheckout)
		r.Post("/streams/{id}/tips", a.tipCheckout)
		r.Post("/creators/{id}/subscribe", a.startCheckout(a.Billing.CheckoutSubscription))
		r.Get("/checkouts/{id}", a.getCheckout)
		// Stripe, verified by signature.
		r.Post("/webhooks/stripe", a.stripeWebhook)
	})
	r.Get("/replays/{stream}/{part}", a.servePart)
	r.Head("/replays/{stream}/{part}", a.servePart)
	r.Get("/watch/{stream}", func(w http.ResponseWriter, r *http.Request) {
		var others []string
		if a.Fleet != nil {
			others = a.otherNodes(r.Context())
		}
		web.Watch(w, r, others)
	})
	// Development doors exist only while they open nothing real: viewer tokens only while
	// the node signs them with a secret of its own, the checkout only without Stripe.
	if a.devTokens() {
		r.Get("/dev/login", a.devLogin)
		r.Post("/dev/login", a.devLogin)
	}
	if a.Billing.DevMode() && !a.Production {
		r.Get("/dev/checkout/{id}", a.devCheckout)
		r.Post("/dev/checkout/{id}/pay", a.devPay)
	}

	if a.Relay != nil {
		r.Get("/internal/relay/{stream}", a.Relay.ServeHTTP)
		r.Post("/internal/relay/{stream}", a.Relay.ServeHTTP)
	}
	if a.Parts != nil {
		r.Get("/internal/parts", a.Parts.ServeHTTP)
	}
	for _, prefix := range []string{"/whip", "/whep"} {
		r.Group(func(r chi.Router) {
			r.Use(cors)
			post := a.WHIP.Publish
			if prefix == "/whep" {
				post = a.WHIP.View
			}
			r.Post(prefix+"/{stream}", post)
			r.Options(prefix+"/{stream}", a.WHIP.Options)
			r.Patch(prefix+"/{stream}/{session}", a.WHIP.Patch)
			r.Delete(prefix+"/{stream}/{session}", a.WHIP.Delete)
			r.Options(prefix+"/{stream}/{session}", a.WHIP.Options)
		})
	}
	return r
}

// listNodes shows the fleet's registry: the nodes alive now, with their load.
func (a *api) listNodes(w http.ResponseWriter, r *http.Request) {
	if a.Fleet == nil {
		writeJSON(w, http.StatusOK, map[string]any{"fleet": false, "nodes": []cluster.Node{}})
		return
	}
	nodes, err := a.Fleet.Nodes(r.Context())
	if err != nil {
		problem.Answer(w, r, problem.ErrUnavailable.With("the fleet's registry does not answer: retry shortly"))
		return
	}
	if nodes == nil {
		nodes = []cluster.Node{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"fleet": true, "nodes": nodes})
}

// client is the rate-limit key of the caller's address (behind trusted proxies, the
// forwarded one).
func (a *api) client(r *http.Request) string { return admission.ClientKey(a.Resolver.ClientIP(r)) }

// limited applies rate limit name to key; when it refuses, the problem is written and
// limited is true.
func (a *api) limited(w http.ResponseWriter, r *http.Request, name, key string) bool {
	if err := a.Limits.Allow(r.Context(), name, key); err != nil {
		problem.Answer(w, r, err)
		return true
	}
	return false
}

// devTokens reports whether this node may mint viewer tokens for anyone.
// devTokens says whether the node mints viewer tokens for anyone (/dev/login,
// /v1/admin/dev/tokens): only a development node, whose viewer tokens are signed with a
// secret it made and which moves no money. With a Stripe key, whoever mints a buyer's
// viewer id watches on the buyer's ticket.
func (a *api) devTokens() bool {
	return !a.Production && a.Viewers.DevelopmentSecret() && a.Billing.DevMode()
}

// cors lets browser players on other origins use WHIP/WHEP.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
		h.Set("Access-Control-Expose-Headers", "Location, ETag, Link, Accept-Patch, Accept-Post, Livegate-Session")
		next.ServeHTTP(w, r)
	})
}

// preflight answers a CORS preflight (the headers are cors's).
func preflight(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }

// requireAPIKey lets in an operator (one of the operator keys, or a platform token with
// the operator role) or a creator (a platform token with the creator role, which the
// routes then hold to its own creator). A node with no operator key is open to anyone
// as an operator (development), but a creator token is still only its creator's.
func (a *api) requireAPIKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		key = strings.TrimSpace(key)
		who := ""
		if len(a.keys) > 0 {
			sum := sha256.Sum256([]byte(key))
			for _, k := range a.keys { // every key is compared, in constant time
				if subtle.ConstantTimeCompare(sum[:], k.hash[:]) == 1 && who == "" {
					who = k.name
				}
			}
		}
		p := principal{actor: who}
		if who == "" && key != "" && strings.Count(key, ".") == 2 {
			id, err := a.Viewers.Identify(key)
			switch {
			case err != nil:
			case id.Role == access.RoleOperator:
				p = principal{actor: "jwt:" + id.Subject}
			case id.Role == access.RoleCreator:
				p = principal{actor: "creator:" + id.Subject, creator: id.CreatorID}
			default:
				problem.Answer(w, r, errForbidden.With("a viewer token cannot use the operator and creator API"))
				return
			}
		}
		if p.actor == "" {
			if len(a.keys) > 0 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="livegate"`)
				problem.Answer(w, r, errUnauthorized.With("send the operator API key, or a creator or operator token, as Authorization: Bearer <key>"))
				return
			}
			p.actor = "operator" // development: /v1 is open
		}
		ctx := context.WithValue(r.Context(), actorKey{}, p.actor)
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, principalKey{}, p)))
	})
}

// principal is who calls the operator and creator API: an operator, or a creator who
// manages only its own creator's streams, prices, onboarding and earnings.
type principal struct {
	actor   string
	creator string // set for a creator token
}

type principalKey struct{}

func principalOf(r *http.Request) principal {
	p, _ := r.Context().Value(principalKey{}).(principal)
	return p
}

// operatorOnly refuses creator tokens.
func (a *api) operatorOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if principalOf(r).creator != "" {
			problem.Answer(w, r, errForbidden.With("a creator token cannot do this"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// mayManage reports, writing 403 when not, whether the caller may manage creator's
// resources.
func mayManage(w http.ResponseWriter, r *http.Request, creator string) bool {
	if p := principalOf(r); p.creator != "" && p.creator != creator {
		problem.Answer(w, r, errForbidden.With("this creator token manages creator "+p.creator+" only"))
		return false
	}
	return true
}

// ownCreator holds the {id} of a creator route to a creator token's own creator.
func (a *api) ownCreator(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mayManage(w, r, chi.URLParam(r, "id")) {
			next.ServeHTTP(w, r)
		}
	})
}

// ownStream holds the {id} of a stream route to a creator token's own streams. Another
// creator's stream is 403 (not 404: stream ids are not secrets, only what is done to them).
func (a *api) ownStream(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if principalOf(r).creator == "" {
			next.ServeHTTP(w, r)
			return
		}
		st, err := a.Store.Stream(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			a.storeError(w, r, "stream", err)
			return
		}
		if mayManage(w, r, st.CreatorID) {
			next.ServeHTTP(w, r)
		}
	})
}

func (a *api) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.Logger.Error("panic in handler", "path", r.URL.Path, "panic", fmt.Sprint(v))
				problem.Answer(w, r, problem.ErrInternal)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// accessLog logs one line per request; never headers, so never a key.
func (a *api) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if r.URL.Path == "/metrics" || r.URL.Path == "/healthz" {
			return
		}
		a.Logger.Info("http", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"dur_ms", float64(time.Since(start).Microseconds())/1000)
	})
}

// decodeJSON reads a bounded JSON body into v, refusing unknown fields.
func (a *api) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	return a.decodeLarge(w, r, v, a.MaxBody)
}

// decodeLarge is decodeJSON with a limit of its own, for the operator's bulk requests.
func (a *api) decodeLarge(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/json") {
		problem.Answer(w, r, problem.ErrMediaType.With("send application/json"))
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		problem.Answer(w, r, problem.ErrBodyTooLarge.With(fmt.Sprintf("the limit is %d bytes", limit)))
		return false
	case err != nil:
		problem.Answer(w, r, problem.ErrBadJSON.With(err.Error()))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func invalid(w http.ResponseWriter, r *http.Request, field, detail string) {
	problem.Answer(w, r, errInvalidField.Field(field, detail))
}

// jsonEach is each of xs as the API shows it.
func jsonEach[T any](xs []T, show func(T) map[string]any) []map[string]any {
	out := make([]map[string]any, 0, len(xs))
	for _, x := range xs {
		out = append(out, show(x))
	}
	return out
}

func (a *api) storeError(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case problem.Answer(w, r, err): // an error that declares its problem (session store down, ...)
	case errors.Is(err, store.ErrNotFound):
		kind := notFound[what]
		if kind == nil {
			kind = problem.ErrNotFound
		}
		problem.Answer(w, r, kind.With(err.Error()))
	case errors.Is(err, store.ErrConflict):
		problem.Answer(w, r, errConflict.With(err.Error()))
	default:
		a.Logger.Error("store", "path", r.URL.Path, "err", err)
		problem.Answer(w, r, problem.ErrInternal)
	}
}
