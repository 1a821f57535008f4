// Package node assembles one livegate node from its Config: store, SFU, WHIP/WHEP and the
// HTTP API, and runs it until told to stop, draining media on the way out. cmd/livegate is
// a thin shell around it, and end-to-end tests start real nodes with it.
package node

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/livegate/livegate/internal/access"
	"github.com/livegate/livegate/internal/admission"
	"github.com/livegate/livegate/internal/billing"
	"github.com/livegate/livegate/internal/cluster"
	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/httpapi"
	"github.com/livegate/livegate/internal/kube"
	"github.com/livegate/livegate/internal/ledger"
	"github.com/livegate/livegate/internal/notify"
	"github.com/livegate/livegate/internal/paywall"
	"github.com/livegate/livegate/internal/recording"
	"github.com/livegate/livegate/internal/sessions"
	"github.com/livegate/livegate/internal/sfu"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlstore"
	"github.com/livegate/livegate/internal/streams"
	"github.com/livegate/livegate/internal/tipfeed"
	"github.com/livegate/livegate/internal/turn"
	"github.com/livegate/livegate/internal/whip"
)

// Node is a running livegate node.
type Node struct {
	cfg      config.Config
	log      *slog.Logger
	Store    store.Store
	SFU      *sfu.SFU
	Metrics  *sfu.Metrics
	WHIP     *whip.Handler
	Registry *prometheus.Registry
	Billing  *billing.Service
	Ledger   *ledger.Books
	// Lifecycle takes streams live and ends them, keeping what the database was away for.
	Lifecycle *streams.Lifecycle
	Resolver  *countries.Resolver
	Viewers   *access.ViewerAuth
	Gate      *access.Gate
	Decider   *paywall.Decider
	Capacity  *admission.Capacity
	Fleet     *cluster.Fleet // nil on a single node (no Redis)
	Recorder  *recording.Recorder
	TURN      *turn.Server // nil unless a TURN listener is configured
	// Webhooks sends the events of webhooks out; Tips brings tips to event streams.
	Webhooks *notify.Dispatcher
	tips     *tipfeed.Feed
	stopTips context.CancelFunc
	handler  http.Handler
	server   *http.Server
	ln       net.Listener
	metrics  *http.Server // --metrics-addr, else nil
	metricLn net.Listener
	stopGate func() // set by Run
}

// New builds a node: opens the database, the media sockets and the HTTP listener.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *Node, err error) {
	if cfg.KubeNode != "" {
		if cfg, err = withNodeAddress(ctx, cfg, log); err != nil {
			return nil, err
		}
	}
	n := &Node{cfg: cfg, log: log, Registry: prometheus.NewRegistry()}
	n.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// What is opened is closed again, newest first, if a later step fails.
	var opened []func() error
	defer func() {
		if err != nil {
			for i := len(opened) - 1; i >= 0; i-- {
				_ = opened[i]()
			}
		}
	}()

	dbURL := cfg.DatabaseURL
	if dbURL == "" {
		dbURL = "sqlite:" + filepath.Join(cfg.DataDir, "livegate.db")
	}
	db, err := sqlstore.Open(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	n.Store = db
	opened = append(opened, db.Close)

	if err := n.startMedia(cfg); err != nil { //nolint:contextcheck // a log-level check, nothing to cancel
		return nil, err
	}
	opened = append(opened, n.closeMedia)

	proxies, err := countries.ParsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	n.Resolver, err = countries.NewResolver(countries.ResolverConfig{GeoIPDB: cfg.GeoIPDB, Header: cfg.CountryHeader,
		TrustedProxies: proxies, Default: cfg.DefaultCountry})
	if err != nil {
		return nil, err
	}
	opened = append(opened, n.Resolver.Close)
	sessStore, shared, err := openSessions(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	opened = append(opened, sessStore.Close)
	tokens, err := n.viewerAuth(ctx, &cfg, shared)
	if err != nil {
		return nil, err
	}
	webhookNets, err := cfg.WebhookAllowPrefixes()
	if err != nil {
		return nil, err
	}
	n.Webhooks = notify.NewDispatcher(db, notify.DispatchConfig{Logger: log.With("component", "webhooks"), Registerer: n.Registry,
		AllowNetworks: webhookNets})
	events := notify.NewEmitter(db, log.With("component", "webhooks"))
	n.Gate, err = access.NewGate(sessStore, tokens, access.GateConfig{Node: cfg.NodeID, TTL: cfg.SessionTTL, Revocations: db,
		Logger: log.With("component", "access"), Metrics: access.NewMetrics(n.Registry), Events: events, Bans: db})
	if err != nil {
		return nil, err
	}

	rates, err := cfg.USDRateTable()
	if err != nil {
		return nil, err
	}
	n.Billing, err = billing.New(db, billing.Config{SecretKey: cfg.StripeSecretKey, WebhookSecret: cfg.StripeWebhookSecret,
		ConnectWebhookSecret: cfg.StripeConnectWebhookSecret,
		APIBase:              cfg.StripeAPIBase, PublicURL: cfg.PublicURL, Logger: log.With("component", "billing"),
		Metrics: billing.NewMetrics(n.Registry), ReplayWindow: cfg.ReplayWindow, USDRates: rates, EventsEmitted: n.Webhooks.Wake,
		// Money decides, access enforces: a revoked entitlement drops its viewers fleet-wide.
		Deliver: func(ctx context.Context, r store.Revocation) error {
			return n.Gate.Publish(ctx, sessions.Event{Kind: sessions.EventEntitlement, EntitlementID: r.EntitlementID,
				Reason: sessions.ReasonRevoked(r.Reason)})
		}})
	if err != nil {
		return nil, err
	}
	n.Ledger = ledger.New(db, ledger.Config{USDRates: rates, Logger: log.With("component", "ledger")})
	if rates != nil {
		// Entries booked while their currency had no rate take the file's now.
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		if _, err := n.Ledger.ConvertUnconverted(ctx, "usd-rates-file", nil); err != nil {
			log.Warn("convert ledger entries at the --usd-rates file's rates", "err", err)
		}
		cancel()
	}
	n.Decider = &paywall.Decider{Entitlements: db, Offers: n.Billing, Previews: sessStore, Bans: db}

	opKeys, err := cfg.OperatorKeyMap()
	if err != nil {
		return nil, err
	}
	lifecycle := streams.New(db, n.SFU, n.Gate, events, log.With("component", "streams"))
	n.Lifecycle = lifecycle
	var tipsCtx context.Context
	tipsCtx, n.stopTips = context.WithCancel(context.WithoutCancel(ctx)) // the node's, not the start's
	n.tips = tipfeed.New(tipsCtx, db, 0, log.With("component", "tips"))
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livegate_rejections_total",
		Help: "Requests refused by an admission limit, by limit."}, []string{"limit"})
	eventStreams := prometheus.NewGauge(prometheus.GaugeOpts{Name: "livegate_event_streams",
		Help: "Server-sent event streams open."})
	n.Registry.MustRegister(rejected, eventStreams)
	rules, err := cfg.Rules()
	if err != nil {
		return nil, err
	}
	// A viewer's checkouts are limited across the fleet: each costs a Stripe session
	// wherever it is made. The other limits protect one node and stay on it.
	limits := admission.NewLimits(rules, admission.Options{Redis: shared, Prefix: cfg.RedisPrefix,
		Shared: []string{admission.CheckoutViewer}, Rejected: rejected, Logger: log.With("component", "admission")})
	n.Capacity = admission.NewCapacity(admission.CapacityLimits{Viewers: cfg.MaxViewers,
		Egress: int64(cfg.MaxEgressMbps) * 1_000_000, CPU: float64(cfg.MaxCPUPercent) / 100},
		n.SFU.Viewers, counterValue(n.Metrics.BytesForwarded), rejected)
	n.Capacity.RefuseWhile(n.SFU.Shedding)
	// The load the capacity limits are held against, so an operator sees how near they are.
	n.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "livegate_node_egress_bits_per_second",
			Help: "Media sent by this node over the last second."}, func() float64 { return float64(n.Capacity.Load().Egress) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "livegate_node_cpu_ratio",
			Help: "Share of the node's CPUs in use, smoothed over a few seconds."}, func() float64 { return n.Capacity.Load().CPU }))
	if shared != nil {
		n.Fleet, err = cluster.New(cluster.Config{Redis: shared, Prefix: cfg.RedisPrefix + "fleet:",
			Self: cluster.Node{ID: cfg.NodeID, URL: cfg.PublicURL, Internal: cfg.InternalURL, Region: cfg.Region,
				Media: addrStrings(n.SFU.UDPAddrs())},
			Secret: relaySecret(cfg.PlaybackSecret), SFU: n.SFU, Capacity: n.Capacity,
			TTL: fleetTTL, IdleAfter: cfg.RelayIdle, Streams: liveStreams{db, lifecycle}, OrphanGrace: cfg.ReconnectGrace,
			Logger: log.With("component", "cluster")})
		if err != nil {
			return nil, err
		}
	}
	var fleet whip.Fleet
	var apiFleet httpapi.Fleet
	var relay http.Handler
	if n.Fleet != nil {
		fleet, apiFleet = n.Fleet, n.Fleet
		relay = n.Fleet.RelayHandler(httpapi.StreamParam)
	}
	recStorage, parts, err := n.recordingStorage(ctx, cfg)
	if err != nil {
		return nil, err
	}
	recMetrics := recording.NewMetrics(n.Registry)
	n.Recorder = recording.New(recording.Config{Storage: recStorage, Store: db, Node: cfg.NodeID, //nolint:contextcheck // the recorder's sweeps live as long as the node; Close stops them
		Metrics: recMetrics, Logger: log.With("component", "recording"), Retention: cfg.RecordingRetention, SweepEvery: cfg.RecordingSweep})
	if err := n.Recorder.Recover(ctx, db.RecordingsInProgress); err != nil {
		return nil, err
	}
	n.WHIP, err = whip.New(n.SFU, db, whip.Config{Fleet: fleet, Recorder: n.Recorder, Gate: n.Gate, Lifecycle: lifecycle, MaxBodyBytes: cfg.MaxBodyBytes, ICEServers: cfg.STUNServers, TURN: n.turnServers,
		PathParam: httpapi.PathParam, MaxCandidates: cfg.MaxCandidates, MaxPatches: cfg.MaxPatches,
		MaxMediaSections: cfg.MaxMediaSections, MaxSDPLine: cfg.MaxSDPLine, MaxPatchBytes: cfg.MaxPatchBytes,
		ClientIP: n.Resolver.ClientIP, MaxPendingPerClient: cfg.MaxPendingPerClient, MaxPending: cfg.MaxPending,
		Rejected: rejected, Limits: limits, Capacity: n.Capacity, Logger: log.With("component", "whip")})
	if err != nil {
		return nil, err
	}
	var publicMetrics prometheus.Gatherer = n.Registry
	if cfg.MetricsAddr != "" {
		publicMetrics = nil
	}
	n.handler = httpapi.New(httpapi.Deps{Store: db, SFU: n.SFU, WHIP: n.WHIP, Gatherer: publicMetrics,
		Billing: n.Billing, Ledger: n.Ledger, Resolver: n.Resolver, Viewers: n.Viewers, Gate: n.Gate, Decider: n.Decider, Streams: lifecycle,
		APIKey: cfg.APIKey, OperatorKeys: opKeys, Production: cfg.Production, WebhookAllowNetworks: webhookNets, Development: cfg.DevelopmentDefaults(), PublicURL: cfg.PublicURL,
		MaxBody: cfg.MaxBodyBytes, Logger: log.With("component", "http"), Limits: limits, Relay: relay, Parts: parts, Fleet: apiFleet,
		EventStreams: admission.NewConns("event-streams", cfg.MaxEventStreamsPerClient, cfg.MaxEventStreams, rejected, eventStreams),
		Recordings:   recStorage, Replays: tokens, ReplayWindow: cfg.ReplayWindow, RecordingRetention: cfg.RecordingRetention,
		ReplayRequests: recMetrics.ReplayRequests, Recorder: n.Recorder, Tips: n.tips, WebhooksWake: n.Webhooks.Wake,
		Ready: func() bool { return !n.SFU.Draining() }, StoreHealth: (&storeCheck{ping: db.Ping}).err})

	if cfg.MetricsAddr != "" {
		n.metricLn, err = new(net.ListenConfig).Listen(ctx, "tcp", cfg.MetricsAddr)
		if err != nil {
			return nil, fmt.Errorf("listen metrics %s: %w", cfg.MetricsAddr, err)
		}
		opened = append(opened, n.metricLn.Close)
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(n.Registry, promhttp.HandlerOpts{}))
		n.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	}
	n.ln, err = new(net.ListenConfig).Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen http %s: %w", cfg.HTTPAddr, err)
	}
	n.server = &http.Server{Handler: n.handler, ReadHeaderTimeout: min(10*time.Second, cfg.ReadTimeout),
		ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	return n, nil
}

// Addr is the HTTP listen address.
func (n *Node) Addr() net.Addr { return n.ln.Addr() }

// URL is the node's base URL as reached on its listen address.
func (n *Node) URL() string { return "http://" + n.ln.Addr().String() }

// MetricsAddr is the --metrics-addr listener's address, or nil when /metrics is served on
// the public listener.
func (n *Node) MetricsAddr() net.Addr {
	if n.metricLn == nil {
		return nil
	}
	return n.metricLn.Addr()
}

// Handler is the node's HTTP handler.
func (n *Node) Handler() http.Handler { return n.handler }

// Run serves until ctx is cancelled, then shuts down gracefully: new joins are refused
// at once, media keeps flowing for the grace period, then everything closes.
func (n *Node) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- n.server.Serve(n.ln) }()
	gateCtx, stopGate := context.WithCancel(context.WithoutCancel(ctx)) // past ctx: through the grace period
	var gateDone sync.WaitGroup
	gateDone.Add(3)
	if n.Fleet != nil {
		gateDone.Add(1)
		go func() { defer gateDone.Done(); n.Fleet.Run(gateCtx) }()
	}
	go func() { defer gateDone.Done(); n.Gate.Run(gateCtx) }()
	go func() { defer gateDone.Done(); n.Capacity.Run(gateCtx) }()
	if n.cfg.ShedCPUPercent > 0 {
		shed := float64(n.cfg.ShedCPUPercent) / 100
		// Shedding aims a step at the admission limit (or just under the mark) and gives
		// video back under it, so that admission and shedding do not take turns.
		target := shed - 0.1
		if n.cfg.MaxCPUPercent > 0 {
			target = float64(n.cfg.MaxCPUPercent) / 100
		}
		gateDone.Go(func() { n.SFU.Shed(gateCtx, n.Capacity, sfu.ShedPolicy{Above: shed, Target: target}) })
	}
	go func() { defer gateDone.Done(); n.Billing.RunOutbox(gateCtx) }()
	gateDone.Add(1)
	go func() { defer gateDone.Done(); n.Webhooks.Run(gateCtx) }()
	gateDone.Go(func() { n.Lifecycle.Run(gateCtx, time.Second) })
	n.stopGate = func() { stopGate(); gateDone.Wait() }
	if n.cfg.DebugAddr != "" {
		dbg := &http.Server{Addr: n.cfg.DebugAddr, Handler: debugMux(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := dbg.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.log.Error("debug server", "err", err)
			}
		}()
		defer dbg.Close()
	}
	if n.metrics != nil {
		go func() {
			if err := n.metrics.Serve(n.metricLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.log.Error("metrics server", "err", err)
			}
		}()
		defer n.metrics.Close()
	}
	n.log.Info("livegate listening", "http", n.ln.Addr().String(), "udp", fmt.Sprint(n.SFU.UDPAddrs()),
		"node", n.cfg.NodeID, "api_key_set", n.cfg.APIKey != "", "production", n.cfg.Production)
	if dev := n.cfg.DevelopmentDefaults(); len(dev) > 0 {
		// One line an operator cannot miss: everything that makes this a development node.
		n.log.Warn("development defaults in force", "defaults", strings.Join(dev, "; "))
	}
	select {
	case err := <-errc:
		n.close(ctx)
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	n.Shutdown(ctx, n.cfg.ShutdownGrace)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown drains: refuse new publishers and viewers, let media flow for grace (or until
// every room has ended), then close the HTTP server, the media and the store. ctx
// usually is the one that asked for the shutdown and is done already: only its values
// are kept; each step has its own bound.
func (n *Node) Shutdown(ctx context.Context, grace time.Duration) {
	ctx = context.WithoutCancel(ctx)
	if n.Fleet != nil {
		// Out of the registry first: no node sends anyone here from now on.
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		n.Fleet.Drain(ctx)
		cancel()
	}
	n.SFU.Drain()
	n.log.Info("draining", "grace", grace.String())
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && n.SFU.Rooms() > 0 {
		time.Sleep(100 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = n.server.Shutdown(sctx)
	n.close(ctx)
	n.log.Info("stopped")
}

// liveStreams are the fleet's live streams as the cluster needs them.
type liveStreams struct {
	db interface {
		ListStreams(ctx context.Context, f store.StreamFilter) ([]store.Stream, error)
	}
	lifecycle *streams.Lifecycle
}

func (l liveStreams) Live(ctx context.Context) ([]string, error) {
	list, err := l.db.ListStreams(ctx, store.StreamFilter{State: store.StateLive, Limit: 1000})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = s.ID
	}
	return ids, nil
}

func (l liveStreams) End(ctx context.Context, id, reason string) error {
	return l.lifecycle.End(ctx, id, reason)
}

// fleetTTL is how long a node's registry entry outlives its last heartbeat: a dead node
// is out of the fleet this long after it died.
const fleetTTL = 6 * time.Second

// fleetSecret returns the development secret stored under key, making it if no node has.
func fleetSecret(ctx context.Context, rdb redis.UniversalClient, key string) (string, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.SetNX(ctx, key, hex.EncodeToString(b), 0).Err(); err != nil {
		return "", fmt.Errorf("development fleet secret: %w", err)
	}
	s, err := rdb.Get(ctx, key).Result()
	if err != nil {
		return "", fmt.Errorf("development fleet secret: %w", err)
	}
	return s, nil
}

// relaySecret signs relay tokens: derived from the playback secret every node shares,
// so a fleet needs no other, and a leaked relay token says nothing of playback tokens.
func relaySecret(playback string) []byte {
	m := hmac.New(sha256.New, []byte(playback))
	m.Write([]byte("livegate relay tokens"))
	return m.Sum(nil)
}

func addrStrings(as []net.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// counterValue reads a counter's value (bytes sent, for the egress rate).
func counterValue(c prometheus.Counter) func() uint64 {
	return func() uint64 {
		var m dto.Metric
		if c.Write(&m) != nil {
			return 0
		}
		return uint64(m.GetCounter().GetValue())
	}
}

// debugMux serves the profiler on its own listener, never on the public API.
func debugMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func (n *Node) close(ctx context.Context) {
	// The viewers still here are ended, recorded and announced while the stores are
	// open: a session left open would linger to its TTL, its session.ended lost.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	n.Gate.EndAll(ectx, sessions.ReasonNodeStopping)
	cancel()
	n.SFU.Close()
	if n.TURN != nil {
		_ = n.TURN.Close()
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	n.Gate.Flush(fctx) // sessions the SFU's close ended (those not yet attached)
	cancel()
	// Closing the rooms finished their recordings; any part left (a room that never
	// ended) is finished before the store closes.
	ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	n.Recorder.Close(ctx)
	cancel()
	if n.stopGate != nil {
		n.stopGate()
	}
	if owed := n.Lifecycle.Owed(); owed > 0 {
		n.log.Error("stopping with streams' changes the database never took (they stay as the database has them)", "streams", owed)
	}
	n.stopTips()
	n.tips.Wait()
	n.Gate.Store().Close()
	n.Resolver.Close()
	n.Store.Close()
}

// startMedia opens the SFU's sockets.
func (n *Node) startMedia(cfg config.Config) error {
	remote, err := cfg.RemotePrefixes()
	if err != nil {
		return err
	}
	relayNets, err := cfg.RelayPrefixes()
	if err != nil {
		return err
	}
	lo, hi, err := cfg.RelayPortRange()
	if err != nil {
		return err
	}
	n.Metrics = sfu.NewMetrics(n.Registry)
	n.SFU, err = sfu.New(sfu.Config{
		UDPPort: cfg.UDPPort, TCPAddr: cfg.TCPAddr, NAT1To1IPs: cfg.NAT1To1IPs, Interfaces: cfg.Interfaces,
		IncludeLoopback: cfg.IncludeLoopback, DisableMDNS: cfg.DisableMDNS, RemoteNetworks: remote, PublicOnly: cfg.Production,
		PLIThrottle:     cfg.PLIThrottle,
		ReconnectGrace:  cfg.ReconnectGrace,
		ConnectTimeout:  cfg.ConnectTimeout,
		PacketCacheSize: cfg.PacketCacheSize, RED: cfg.AudioRED, Logger: n.log.With("component", "sfu"), Metrics: n.Metrics,
		RelayNetworks: relayNets, RelayPorts: sfu.PortRange{Min: lo, Max: hi},
	})
	if err != nil {
		return fmt.Errorf("start media: %w", err)
	}
	if cfg.TURN.On() {
		if err := n.startTURN(cfg); err != nil {
			_ = n.SFU.Close()
			return err
		}
	}
	return nil
}

// closeMedia closes what startMedia opened, for a node that failed to start.
func (n *Node) closeMedia() error {
	if n.TURN != nil {
		_ = n.TURN.Close()
	}
	return n.SFU.Close()
}

// startTURN runs the node's TURN server in front of its media socket.
func (n *Node) startTURN(cfg config.Config) error {
	var want netip.Addr
	if cfg.TURN.RelayIP != "" {
		want = netip.MustParseAddr(cfg.TURN.RelayIP) // Validate parsed it
	}
	var bound []netip.AddrPort
	for _, a := range n.SFU.UDPAddrs() {
		if ua, ok := a.(*net.UDPAddr); ok {
			ap := ua.AddrPort()
			bound = append(bound, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		}
	}
	media, ok := relayTarget(bound, want)
	if !ok {
		return fmt.Errorf("turn: --turn-relay-ip %s is not an address of the media socket (%v)", cfg.TURN.RelayIP, bound)
	}
	nodeIPs := make([]netip.Addr, 0, len(bound)+len(cfg.NAT1To1IPs))
	for _, b := range bound {
		nodeIPs = append(nodeIPs, b.Addr())
	}
	for _, ip := range cfg.NAT1To1IPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			nodeIPs = append(nodeIPs, a)
		}
	}
	host, err := cfg.TURNHost()
	if err != nil {
		return err
	}
	log := n.log.With("component", "turn")
	n.TURN, err = turn.New(turn.Config{Secret: []byte(cfg.TURN.Secret), Host: host,
		UDPAddr: cfg.TURN.UDPAddr, TCPAddr: cfg.TURN.TCPAddr, TLSAddr: cfg.TURN.TLSAddr,
		CertFile: cfg.TURN.CertFile, KeyFile: cfg.TURN.KeyFile,
		Media: media, NodeIPs: nodeIPs, TTL: cfg.TURN.TTL,
		MaxPerSession: cfg.TURN.MaxPerSession, MaxPerClient: cfg.TURN.MaxPerClient,
		Logger: log, PionLogs: sfu.PionLogs(log), Registerer: n.Registry})
	if err != nil {
		return err
	}
	n.SFU.AllowRelayAddress(media.Addr(), n.TURN.RelayPortOpen)
	return nil
}

// relayTarget is the media socket's address relays deliver to: the one on want, else
// the first IPv4 one not on loopback, else the first at all.
func relayTarget(bound []netip.AddrPort, want netip.Addr) (netip.AddrPort, bool) {
	if want.IsValid() {
		for _, b := range bound {
			if b.Addr() == want.Unmap() {
				return b, true
			}
		}
		return netip.AddrPort{}, false
	}
	for _, b := range bound {
		if b.Addr().Is4() && !b.Addr().IsLoopback() {
			return b, true
		}
	}
	if len(bound) > 0 {
		return bound[0], true
	}
	return netip.AddrPort{}, false
}

// turnServers are the TURN URLs with a credential for one WHIP or WHEP session.
func (n *Node) turnServers(sessionID string) []whip.ICEServer {
	if n.TURN == nil {
		return nil
	}
	servers := n.TURN.ICEServers(sessionID)
	out := make([]whip.ICEServer, len(servers))
	for i, s := range servers {
		out[i] = whip.ICEServer(s)
	}
	return out
}

// openSessions opens the session store: Redis when the node has one (shared is its
// client, for other fleet-wide state), else the process's own.
func openSessions(ctx context.Context, cfg config.Config, log *slog.Logger) (_ sessions.Store, shared redis.UniversalClient, err error) {
	var sessStore sessions.Store = sessions.NewMemory()
	if cfg.RedisURL != "" {
		rs, err := sessions.NewRedis(cfg.RedisURL, cfg.RedisPrefix, log.With("component", "sessions"))
		if err != nil {
			return nil, nil, err
		}
		if err := rs.Ping(ctx); err != nil {
			// Not fatal: media needs no Redis; joins answer 503 until it is back.
			log.Warn("redis not answering at start", "err", err)
		} else if _, err := rs.Epoch(ctx); err != nil {
			// Set now, before streams start, so that their previews are remembered.
			log.Warn("session store epoch", "err", err)
		}
		sessStore = rs
		shared = rs.Client()
	}
	return sessStore, shared, nil
}

// viewerAuth sets up how viewers prove who they are, and returns the playback tokens.
func (n *Node) viewerAuth(ctx context.Context, cfg *config.Config, shared redis.UniversalClient) (*access.PlaybackTokens, error) {
	var err error
	// A development fleet (Redis, no secrets given) shares development secrets through
	// Redis, so that nodes started with nothing but the same --redis-url honour each
	// other's tokens. A production node is given its secrets.
	var devViewerSecret []byte
	if shared != nil && cfg.PlaybackSecret == "" {
		if cfg.PlaybackSecret, err = fleetSecret(ctx, shared, cfg.RedisPrefix+"dev:playback-secret"); err != nil {
			return nil, err
		}
	}
	if shared != nil && cfg.ViewerJWTSecret == "" && cfg.ViewerJWTPublicKey == "" {
		s, err := fleetSecret(ctx, shared, cfg.RedisPrefix+"dev:viewer-secret")
		if err != nil {
			return nil, err
		}
		devViewerSecret = []byte(s)
	}
	n.Viewers, err = access.NewViewerAuth(access.ViewerAuthConfig{HS256Secret: cfg.ViewerJWTSecret, PublicKeyPEM: cfg.ViewerJWTPublicKey,
		Issuer: cfg.ViewerJWTIssuer, Audience: cfg.ViewerJWTAudience, DevelopmentSecret: devViewerSecret})
	if err != nil {
		return nil, err
	}
	tokens, err := access.NewPlaybackTokens(cfg.PlaybackSecret, 0)
	if err != nil {
		return nil, err
	}
	return tokens, nil
}

// storeCheck pings the database for /readyz at most once a second, however often the
// probes come.
type storeCheck struct {
	ping func(ctx context.Context) error
	mu   sync.Mutex
	at   time.Time
	last error
}

func (c *storeCheck) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < time.Second {
		return c.last
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.last, c.at = c.ping(ctx), time.Now()
	return c.last
}

// recordingStorage is where recordings go (a bucket, or this node's disk) and, in a
// fleet without a bucket, the handler that serves this node's parts to the others.
func (n *Node) recordingStorage(ctx context.Context, cfg config.Config) (interface {
	recording.Storage
	httpapi.ReplayStorage
}, http.Handler, error) {
	dir := cfg.RecordingsDir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "recordings")
	}
	if s3 := cfg.RecordingsS3; s3.Endpoint != "" {
		st, err := recording.NewS3(ctx, recording.S3Config{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Region: s3.Region,
			AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Insecure: s3.Insecure, SpoolDir: dir})
		return st, nil, err
	}
	st, err := recording.NewDir(dir)
	if err != nil || n.Fleet == nil {
		return st, nil, err
	}
	// Each node keeps what it records; the others serve those replays from it.
	n.log.Warn("recordings are kept on the disk of the node that records them: other nodes serve their replays from it, and a node lost takes its replays with it; a fleet's recordings belong in a bucket (--recordings-s3-endpoint)",
		"dir", dir)
	return st, n.Fleet.PartHandler(st.Open), nil
}

// withNodeAddress fills in the public address of the Kubernetes node the pod runs on:
// announced for media (unless --nat-1to1-ips names it), and {public_ip} in the URLs.
func withNodeAddress(ctx context.Context, cfg config.Config, log *slog.Logger) (config.Config, error) {
	ip, err := kube.PublicIP(ctx, kube.Config{Node: cfg.KubeNode, API: cfg.KubeAPI, Credentials: cfg.KubeCredentials})
	if err != nil {
		return cfg, fmt.Errorf("public address: %w", err)
	}
	if len(cfg.NAT1To1IPs) == 0 {
		cfg.NAT1To1IPs = []string{ip.String()}
	}
	cfg.PublicURL = strings.ReplaceAll(cfg.PublicURL, "{public_ip}", ip.String())
	cfg.InternalURL = strings.ReplaceAll(cfg.InternalURL, "{public_ip}", ip.String())
	log.Info("public address from the Kubernetes node", "node", cfg.KubeNode, "ip", ip.String(), "public_url", cfg.PublicURL)
	return cfg, nil
}
