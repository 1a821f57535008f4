// Package config holds the one Config struct of a livegate node and fills it from
// command-line flags and LIVEGATE_* environment variables (flags win).
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/livegate/livegate/internal/admission"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/store"
)

// Config is everything a livegate node can be told. Every field has a flag and an
// environment variable named LIVEGATE_ plus the flag name in upper snake case.
type Config struct {
	HTTPAddr  string // address of the HTTP API, WHIP/WHEP and /metrics
	PublicURL string // base URL clients reach this node at; used in WHIP/WHEP URLs
	// InternalURL is the base URL other nodes of the fleet reach this node at (relays);
	// empty: PublicURL.
	InternalURL string
	DataDir     string // where the embedded SQLite database lives
	DatabaseURL string // PostgreSQL URL; when set, SQLite is not used
	NodeID      string // this node's name in logs and in the fleet's registry
	Region      string // where the node runs, in the fleet's registry (e.g. eu-west)
	// RelayIdle is how long a node keeps pulling a stream from its origin after its last
	// viewer left.
	RelayIdle time.Duration
	// RelayNetworks are CIDRs other nodes of the fleet are reached at for relays (their
	// own network, which viewers' candidates may not name).
	RelayNetworks []string
	// KubeNode is the Kubernetes node the pod runs on (spec.nodeName): its public address
	// (the livegate.io/public-ip annotation, else its ExternalIP) is announced for media
	// and fills {public_ip} in PublicURL and InternalURL. KubeAPI and KubeCredentials
	// reach the API (empty: in-cluster).
	KubeNode, KubeAPI, KubeCredentials string
	// RelayUDPPorts is the range (MIN-MAX) of UDP ports relays between nodes use, each
	// relay a port of its own on each side; empty: any free port.
	RelayUDPPorts string
	// WebhookAllowNetworks are the operator's own networks (CIDRs) webhooks out may be
	// posted to; otherwise only public addresses are, never loopback, private,
	// link-local or metadata ones.
	WebhookAllowNetworks []string

	APIKey     string // operator/creator API key for /v1 (compared in constant time)
	Production bool   // refuse unsafe development defaults

	// Media plane.
	UDPPort         int           // one UDP port for every peer (ICE UDP mux)
	TCPAddr         string        // ICE-TCP mux listen address; empty disables ICE-TCP
	NAT1To1IPs      []string      // public IPs announced as host candidates
	STUNServers     []string      // STUN URLs given to clients in Link headers
	Interfaces      []string      // network interfaces to gather candidates on; empty means all
	IncludeLoopback bool          // gather loopback candidates (tests, single-machine setups)
	RemoteNetworks  []string      // CIDRs media may be sent to; empty means anywhere
	DisableMDNS     bool          // never use mDNS candidates
	ShutdownGrace   time.Duration // media keeps flowing this long after SIGTERM
	MaxBodyBytes    int64         // bound on WHIP/WHEP and JSON request bodies
	// ReadTimeout bounds reading one request, body included (a client trickling its body
	// is cut off); WriteTimeout writing one response, event streams excepted.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	PLIThrottle  time.Duration // at most one keyframe request per publisher (all its layers) per interval
	// RecordingsDir keeps the recordings of streams this node is the origin of (empty:
	// recordings under DataDir). ReplayWindow is how long after a stream's end its
	// buyers may replay it, and RecordingRetention how long a recording is kept, unless
	// the stream says otherwise.
	RecordingsDir string
	// USDRates is a CSV file of "date,currency,usd_per_unit" rows: the US dollar rates
	// the ledger records where Stripe's balance transaction gives none.
	USDRates           string
	ReplayWindow       time.Duration
	RecordingRetention time.Duration
	RecordingSweep     time.Duration // how often recordings past their retention are deleted
	// RecordingsS3 puts recordings in an S3-compatible bucket (any node of a fleet
	// serves any replay); RecordingsDir is then where parts wait to be uploaded.
	RecordingsS3 S3Config
	// TURN is the node's own TURN server, for clients whose networks drop UDP.
	TURN TURNConfig
	// ReconnectGrace is how long a live stream whose encoder dropped without DELETE
	// stays live, viewers attached, waiting for the encoder to reconnect.
	ReconnectGrace time.Duration
	// ConnectTimeout closes a viewer connection that is not up this long after its answer.
	ConnectTimeout time.Duration
	// MaxPendingPerClient and MaxPending cap viewer connections answered but not yet up,
	// per client address and per node (0: no cap); beyond them WHEP answers 429.
	// Per client it is 50, not a handful: a mobile carrier's NAT puts many viewers
	// behind one address, and a load generator's fast ramp has dozens connecting at once.
	MaxPendingPerClient int
	MaxPending          int
	// RateLimits overrides admission's default rate limits: name=COUNT/UNIT[:BURST] or
	// name=off, comma-separated, or "off" for none (see admission.Rules).
	RateLimits string
	// MaxEventStreamsPerClient and MaxEventStreams cap open server-sent event streams per
	// client address and on the node (0: no cap).
	MaxEventStreamsPerClient int
	MaxEventStreams          int
	// Node capacity: beyond these, new viewers get 503 with Retry-After (0: no limit).
	MaxViewers    int
	MaxEgressMbps int // media sent, megabits per second
	MaxCPUPercent int // of the CPUs the node may use
	// ShedCPUPercent is the CPU use at which the node sheds viewers' video (lowest layer,
	// then audio only; free viewers first, the latest joined first) rather than lose
	// packets for everyone (0: never).
	ShedCPUPercent int
	// SDP bounds: media sections of an offer and the length of any SDP line.
	MaxMediaSections int
	MaxSDPLine       int
	// MaxPatchBytes bounds a trickle-ICE PATCH body (a fragment of candidates is small).
	MaxPatchBytes   int64
	PacketCacheSize int // packets kept per publisher track to answer NACKs
	// AudioRED negotiates redundant audio (audio/red): browsers that offer it publish
	// with it, and viewers that take it get it, built by the node from plain Opus.
	AudioRED    bool
	LogLevel    string // debug, info, warn, error
	DebugAddr   string // serves net/http/pprof when set (keep it private)
	MetricsAddr string // serves /metrics on its own listener instead of the public one
	// ICE abuse bounds: remote candidates one WHIP/WHEP session may add (offer and trickle
	// together) and trickle PATCHes it may send.
	MaxCandidates int
	MaxPatches    int

	// Operators: extra named API keys ("alice=key,bob=key"), recorded as the actor in audits.
	OperatorKeys []string

	// Money plane.
	StripeSecretKey     string // also read from STRIPE_SECRET_KEY; empty: development checkout
	StripeWebhookSecret string // also read from STRIPE_WEBHOOK_SECRET
	// StripeConnectWebhookSecret verifies the Connect endpoint's events (account.updated);
	// also read from STRIPE_CONNECT_WEBHOOK_SECRET.
	StripeConnectWebhookSecret string
	StripeAPIBase              string // Stripe API URL override (stripe-mock)

	// Viewer country.
	GeoIPDB        string   // MaxMind GeoIP2/GeoLite2 Country mmdb
	CountryHeader  string   // e.g. CF-IPCountry, believed only from TrustedProxies
	TrustedProxies []string // CIDRs whose X-Forwarded-For and country header are believed
	DefaultCountry string   // when nothing else tells

	// Access plane.
	RedisURL       string        // viewer sessions in Redis (required for more than one node)
	RedisPrefix    string        // namespace of every key and channel in Redis
	PlaybackSecret string        // signs playback tokens; every node of a fleet shares it
	SessionTTL     time.Duration // a session outlives its node's last heartbeat this long

	// Viewer identity: the embedding platform's JWTs.
	ViewerJWTSecret    string // HS256 shared secret
	ViewerJWTPublicKey string // PEM file of an Ed25519 or P-256 public key
	ViewerJWTIssuer    string
	ViewerJWTAudience  string
}

// TURNConfig is the node's TURN server (internal/turn). It is on when any listener is set.
type TURNConfig struct {
	Secret string // derives the per-session credentials; 32+ bytes, shared by every node
	// Host is the name or address in the URLs clients get (a TLS client checks the
	// certificate against it); empty: --public-url's host.
	Host                      string
	UDPAddr, TCPAddr, TLSAddr string // listen addresses; empty: that listener is off
	CertFile, KeyFile         string // the TLS listener's certificate chain and key (PEM)
	// RelayIP is the address relay sockets are bound on and clients are told (only the
	// node itself ever sends to it); empty: the address of the node's media socket.
	RelayIP       string
	TTL           time.Duration // a credential's lifetime
	MaxPerSession int           // live allocations per credential
	MaxPerClient  int           // live allocations per client address
}

// On reports whether any TURN listener is configured.
func (t TURNConfig) On() bool { return t.UDPAddr != "" || t.TCPAddr != "" || t.TLSAddr != "" }

// S3Config is an S3-compatible bucket. Empty Endpoint: no bucket.
type S3Config struct {
	Endpoint  string // host:port
	Bucket    string
	Region    string
	AccessKey string // also AWS_ACCESS_KEY_ID
	SecretKey string // also AWS_SECRET_ACCESS_KEY
	Insecure  bool   // plain HTTP
}

// Default returns the configuration of a single node that needs no external service.
func Default() Config {
	return Config{
		HTTPAddr:            ":8080",
		PublicURL:           "http://localhost:8080",
		DataDir:             "./data",
		NodeID:              hostname(),
		UDPPort:             7882,
		TCPAddr:             ":7881",
		ShutdownGrace:       10 * time.Second,
		RelayIdle:           30 * time.Second,
		MaxBodyBytes:        64 << 10,
		ReadTimeout:         15 * time.Second,
		WriteTimeout:        30 * time.Second,
		PLIThrottle:         500 * time.Millisecond,
		ReconnectGrace:      60 * time.Second,
		ReplayWindow:        7 * 24 * time.Hour,
		RecordingRetention:  90 * 24 * time.Hour,
		RecordingSweep:      10 * time.Minute,
		ConnectTimeout:      5 * time.Second,
		MaxPendingPerClient: 50,
		MaxPending:          1000,
		// One viewer page holds one event stream; a client with dozens is a script.
		MaxEventStreamsPerClient: 20,
		MaxEventStreams:          10000,
		// A browser's offer has two or three sections, a simulcast one no more; lines are
		// short (the longest, a candidate or an fmtp, is under 200 bytes).
		MaxMediaSections: 16,
		MaxSDPLine:       2048,
		MaxPatchBytes:    16 << 10,
		PacketCacheSize:  1024,
		AudioRED:         true,
		LogLevel:         "info",
		SessionTTL:       15 * time.Second,
		RedisPrefix:      "livegate:",
		MaxCandidates:    32,
		MaxPatches:       32,
		// Refuse past 80% of the node's CPUs and shed at 95%: a node past its core
		// loses packets for every viewer at once; the gap is what half a second's
		// readings swing by (docs/BENCHMARKS.md, "Saturation").
		MaxCPUPercent:  80,
		ShedCPUPercent: 95,
		// A browser allocates once per TURN URL and local address: three URLs on a
		// phone with Wi-Fi and cellular is six; an ICE restart doubles it for a while.
		TURN: TURNConfig{TTL: 10 * time.Minute, MaxPerSession: 12, MaxPerClient: 100},
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "livegate"
	}
	return h
}

// flags binds every option of c to a flag set writing its help to out.
func flags(c *Config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("livegate", flag.ContinueOnError)
	fs.SetOutput(out)

	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "address of the HTTP API, WHIP/WHEP and /metrics")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "base URL clients reach this node at")
	fs.StringVar(&c.InternalURL, "internal-url", c.InternalURL, "base URL other nodes of the fleet reach this node at, for relays (e.g. http://10.0.0.5:8080); empty: --public-url")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the embedded SQLite database")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostgreSQL URL (postgres://... or postgresql://...), or sqlite:PATH; empty uses SQLite in --data-dir")
	fs.StringVar(&c.NodeID, "node-id", "", "this node's name, unique in a fleet (default: the host name and the HTTP port)")
	fs.StringVar(&c.Region, "region", c.Region, "where this node runs (e.g. eu-west), as the fleet's registry shows it")
	fs.DurationVar(&c.RelayIdle, "relay-idle", c.RelayIdle, "how long a node keeps relaying a stream from its origin after its last viewer left")
	fs.Var((*listFlag)(&c.WebhookAllowNetworks), "webhook-allow-networks", "comma-separated CIDRs of the operator's own network that webhooks out may be posted to (default: public addresses only)")
	fs.StringVar(&c.KubeNode, "kube-node", c.KubeNode, "the Kubernetes node this pod runs on (spec.nodeName): its livegate.io/public-ip annotation, else its ExternalIP, is announced for media and fills {public_ip} in --public-url")
	fs.StringVar(&c.KubeAPI, "kube-api", c.KubeAPI, "the Kubernetes API's URL (default: in-cluster)")
	fs.StringVar(&c.KubeCredentials, "kube-credentials", c.KubeCredentials, "directory of the service account's token and ca.crt (default: in-cluster)")
	fs.StringVar(&c.RelayUDPPorts, "relay-udp-ports", c.RelayUDPPorts, "UDP ports (MIN-MAX) relays between nodes use, one per relay on each side (default: any free port)")
	fs.Var((*listFlag)(&c.RelayNetworks), "relay-networks", "comma-separated CIDRs other nodes are reached at for relays (e.g. 10.0.0.0/8); empty: as --remote-networks, or anywhere")
	fs.StringVar(&c.APIKey, "api-key", c.APIKey, "operator/creator API key for /v1 (required with --production)")
	fs.BoolVar(&c.Production, "production", c.Production, "refuse development defaults")
	fs.IntVar(&c.UDPPort, "udp-port", c.UDPPort, "UDP port shared by every WebRTC peer (ICE UDP mux); 0 picks one")
	fs.StringVar(&c.TCPAddr, "tcp-addr", c.TCPAddr, "ICE-TCP listen address; empty disables ICE-TCP (with --udp-port given and this not: that port number, over TCP)")
	fs.Var((*listFlag)(&c.NAT1To1IPs), "nat-1to1-ips", "comma-separated public IPs announced instead of local ones")
	fs.Var((*listFlag)(&c.STUNServers), "stun-servers", "comma-separated STUN URLs (stun:host:port) offered to clients")
	fs.StringVar(&c.TURN.Secret, "turn-secret", c.TURN.Secret, "secret (32+ bytes) deriving TURN credentials, shared by every node")
	fs.StringVar(&c.TURN.Host, "turn-host", c.TURN.Host, "host name or address in the TURN URLs given to clients (default: --public-url's host)")
	fs.StringVar(&c.TURN.UDPAddr, "turn-udp-addr", c.TURN.UDPAddr, "TURN over UDP listen address (e.g. :3478); empty: off")
	fs.StringVar(&c.TURN.TCPAddr, "turn-tcp-addr", c.TURN.TCPAddr, "TURN over TCP listen address (e.g. :3478); empty: off")
	fs.StringVar(&c.TURN.TLSAddr, "turn-tls-addr", c.TURN.TLSAddr, "TURN over TLS listen address (e.g. :443, for networks that let only TLS out); empty: off")
	fs.StringVar(&c.TURN.CertFile, "turn-cert", c.TURN.CertFile, "PEM certificate chain of the TURN TLS listener")
	fs.StringVar(&c.TURN.KeyFile, "turn-key", c.TURN.KeyFile, "PEM private key of the TURN TLS listener")
	fs.StringVar(&c.TURN.RelayIP, "turn-relay-ip", c.TURN.RelayIP, "address TURN relay sockets bind on (default: the media socket's address)")
	fs.DurationVar(&c.TURN.TTL, "turn-ttl", c.TURN.TTL, "lifetime of the TURN credentials given to a client")
	fs.IntVar(&c.TURN.MaxPerSession, "turn-max-per-session", c.TURN.MaxPerSession, "TURN allocations one session's credential may hold")
	fs.IntVar(&c.TURN.MaxPerClient, "turn-max-per-client", c.TURN.MaxPerClient, "TURN allocations one client address may hold")
	fs.Var((*listFlag)(&c.Interfaces), "interfaces", "comma-separated network interfaces to use for media; empty means all")
	fs.BoolVar(&c.IncludeLoopback, "include-loopback", c.IncludeLoopback, "offer loopback ICE candidates")
	fs.Var((*listFlag)(&c.RemoteNetworks), "remote-networks", "comma-separated CIDRs peers may be reached at (e.g. 127.0.0.0/8,::1/128 on a test machine); empty allows any")
	fs.BoolVar(&c.DisableMDNS, "disable-mdns", c.DisableMDNS, "never gather or resolve mDNS candidates")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", c.ShutdownGrace, "how long media keeps flowing after SIGTERM")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest accepted request body")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", c.ReadTimeout, "longest time to read one HTTP request, body included")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "longest time to write one HTTP response (event streams excepted)")
	fs.DurationVar(&c.PLIThrottle, "pli-throttle", c.PLIThrottle, "minimum interval between keyframe requests to a publisher, all its layers together")
	fs.StringVar(&c.RecordingsDir, "recordings-dir", c.RecordingsDir, "directory of the recordings of streams this node is the origin of (default: recordings in --data-dir)")
	fs.StringVar(&c.USDRates, "usd-rates", c.USDRates, "CSV file of date,currency,usd_per_unit rows: USD rates for the ledger and the growth report where Stripe gives none")
	fs.DurationVar(&c.ReplayWindow, "replay-window", c.ReplayWindow, "how long after a recorded stream ends its buyers may replay it, unless the stream says otherwise")
	fs.DurationVar(&c.RecordingRetention, "recording-retention", c.RecordingRetention, "how long a recording is kept after its stream ends, unless the stream says otherwise")
	fs.StringVar(&c.RecordingsS3.Endpoint, "recordings-s3-endpoint", c.RecordingsS3.Endpoint, "S3-compatible endpoint (host:port) keeping recordings, so that every node serves every replay; empty: --recordings-dir only")
	fs.StringVar(&c.RecordingsS3.Bucket, "recordings-s3-bucket", c.RecordingsS3.Bucket, "the recordings' bucket (it must exist)")
	fs.StringVar(&c.RecordingsS3.Region, "recordings-s3-region", c.RecordingsS3.Region, "the bucket's region")
	fs.StringVar(&c.RecordingsS3.AccessKey, "recordings-s3-access-key", c.RecordingsS3.AccessKey, "S3 access key (or AWS_ACCESS_KEY_ID)")
	fs.StringVar(&c.RecordingsS3.SecretKey, "recordings-s3-secret-key", c.RecordingsS3.SecretKey, "S3 secret key (or AWS_SECRET_ACCESS_KEY)")
	fs.BoolVar(&c.RecordingsS3.Insecure, "recordings-s3-insecure", c.RecordingsS3.Insecure, "talk to the S3 endpoint over plain HTTP")
	fs.DurationVar(&c.RecordingSweep, "recording-sweep", c.RecordingSweep, "how often recordings past their retention are deleted")
	fs.DurationVar(&c.ReconnectGrace, "reconnect-grace", c.ReconnectGrace, "how long a live stream waits, viewers attached, for an encoder that dropped to reconnect (0: end at once)")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", c.ConnectTimeout, "how long a viewer connection may take to come up (ICE and DTLS) after its answer before it is closed (0: ICE's own timeouts)")
	fs.IntVar(&c.MaxPendingPerClient, "max-pending-per-client", c.MaxPendingPerClient, "viewer connections one client address may have answered but not yet up (0: no cap)")
	fs.IntVar(&c.MaxPending, "max-pending", c.MaxPending, "viewer connections the node may have answered but not yet up (0: no cap)")
	fs.StringVar(&c.RateLimits, "rate-limits", c.RateLimits, "overrides of the default rate limits, e.g. \"checkout-viewer=5/m,whep=20/s:100,collect=off\" or \"off\"; the defaults: "+admission.DefaultRules().String())
	fs.IntVar(&c.MaxEventStreamsPerClient, "max-event-streams-per-client", c.MaxEventStreamsPerClient, "server-sent event streams one client address may hold open (0: no cap)")
	fs.IntVar(&c.MaxEventStreams, "max-event-streams", c.MaxEventStreams, "server-sent event streams the node holds open (0: no cap)")
	fs.IntVar(&c.MaxViewers, "max-viewers", c.MaxViewers, "viewers this node serves; past it WHEP answers 503 with Retry-After (0: no limit)")
	fs.IntVar(&c.MaxEgressMbps, "max-egress-mbps", c.MaxEgressMbps, "media this node sends, in Mbit/s; past it new viewers get 503 (0: no limit)")
	fs.IntVar(&c.MaxCPUPercent, "max-cpu-percent", c.MaxCPUPercent, "CPU use (percent of the CPUs the node may use), one more viewer counted, past which new viewers get 503 (0: no limit)")
	fs.IntVar(&c.ShedCPUPercent, "shed-cpu-percent", c.ShedCPUPercent, "CPU use (percent) at which the node moves viewers to lower layers or audio only, free and latest first, instead of losing packets for all (0: never)")
	fs.IntVar(&c.MaxMediaSections, "max-media-sections", c.MaxMediaSections, "media sections (m= lines) an SDP offer may have")
	fs.IntVar(&c.MaxSDPLine, "max-sdp-line", c.MaxSDPLine, "longest SDP line accepted, in bytes")
	fs.Int64Var(&c.MaxPatchBytes, "max-patch-bytes", c.MaxPatchBytes, "largest trickle-ICE PATCH body")
	fs.IntVar(&c.PacketCacheSize, "packet-cache-size", c.PacketCacheSize, "packets kept per publisher track for NACK answers (power of two)")
	fs.BoolVar(&c.AudioRED, "audio-red", c.AudioRED, "redundant audio (audio/red) for publishers and viewers that offer it: each audio packet carries the two before it, so a viewer's lost packet is found in the next one")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.Var((*listFlag)(&c.OperatorKeys), "operator-keys", "extra operator API keys as name=key, comma-separated; names appear in audit logs")
	fs.StringVar(&c.StripeSecretKey, "stripe-secret-key", c.StripeSecretKey, "Stripe secret key (or STRIPE_SECRET_KEY); empty uses the development checkout")
	fs.StringVar(&c.StripeWebhookSecret, "stripe-webhook-secret", c.StripeWebhookSecret, "Stripe webhook signing secret (or STRIPE_WEBHOOK_SECRET)")
	fs.StringVar(&c.StripeAPIBase, "stripe-api-base", c.StripeAPIBase, "Stripe API URL override, e.g. http://127.0.0.1:12111 for stripe-mock")
	fs.StringVar(&c.GeoIPDB, "geoip-db", c.GeoIPDB, "MaxMind GeoIP2/GeoLite2 Country mmdb for viewer countries")
	fs.StringVar(&c.CountryHeader, "country-header", c.CountryHeader, "header with the viewer's country (e.g. CF-IPCountry), trusted only from --trusted-proxies")
	fs.Var((*listFlag)(&c.TrustedProxies), "trusted-proxies", "comma-separated CIDRs of proxies whose X-Forwarded-For and country header are believed")
	fs.StringVar(&c.DefaultCountry, "default-country", c.DefaultCountry, "viewer country when neither mmdb nor header tells")
	fs.StringVar(&c.RedisURL, "redis-url", c.RedisURL, "Redis for viewer sessions (redis://host:6379/0); empty keeps them in process (single node)")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", c.RedisPrefix, "prefix of livegate's Redis keys and channel (one per deployment)")
	fs.StringVar(&c.PlaybackSecret, "playback-secret", c.PlaybackSecret, "secret (32+ bytes) signing playback tokens, shared by every node")
	fs.DurationVar(&c.SessionTTL, "session-ttl", c.SessionTTL, "how long a viewer session outlives its node's last heartbeat")
	fs.StringVar(&c.ViewerJWTSecret, "viewer-jwt-secret", c.ViewerJWTSecret, "HS256 secret of the platform's viewer JWTs (32+ bytes)")
	fs.StringVar(&c.ViewerJWTPublicKey, "viewer-jwt-public-key", c.ViewerJWTPublicKey, "PEM file of the platform's Ed25519 or P-256 JWT public key")
	fs.StringVar(&c.ViewerJWTIssuer, "viewer-jwt-issuer", c.ViewerJWTIssuer, "required iss of viewer JWTs, if set")
	fs.StringVar(&c.ViewerJWTAudience, "viewer-jwt-audience", c.ViewerJWTAudience, "required aud of viewer JWTs, if set")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "serve /metrics only on this address (e.g. 10.0.0.5:9090) instead of --http-addr")
	fs.IntVar(&c.MaxCandidates, "max-candidates", c.MaxCandidates, "remote ICE candidates one WHIP/WHEP session may add")
	fs.IntVar(&c.MaxPatches, "max-patches", c.MaxPatches, "trickle-ICE PATCH requests one WHIP/WHEP session may send")
	fs.StringVar(&c.StripeConnectWebhookSecret, "stripe-connect-webhook-secret", c.StripeConnectWebhookSecret, "signing secret of the Stripe Connect webhook endpoint (or STRIPE_CONNECT_WEBHOOK_SECRET)")
	fs.StringVar(&c.DebugAddr, "debug-addr", c.DebugAddr, "address for /debug/pprof (e.g. 127.0.0.1:6060); empty disables")

	return fs
}

// EnvNames lists the LIVEGATE_* variable of every option (and the Stripe variables
// read as well): what deploy files may set.
func EnvNames() []string {
	c := Default()
	var out []string
	flags(&c, io.Discard).VisitAll(func(f *flag.Flag) { out = append(out, EnvName(f.Name)) })
	return append(out, "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_CONNECT_WEBHOOK_SECRET")
}

// EnvName is the environment variable of a flag.
func EnvName(flagName string) string {
	return "LIVEGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load reads flags from args (without the program name) and LIVEGATE_* variables from
// getenv. A flag given on the command line beats the environment. -h/--help prints every
// option to out and returns flag.ErrHelp.
func Load(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c := Default()
	fs := flags(&c, out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: livegate [flags]\n\nEvery flag can also be set as LIVEGATE_<NAME> (e.g. LIVEGATE_HTTP_ADDR).\n\n")
		fs.PrintDefaults()
	}

	// Environment first, so flags parsed afterwards win.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := EnvName(f.Name)
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s: %w", name, err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if c.RecordingsS3.AccessKey == "" {
		c.RecordingsS3.AccessKey = getenv("AWS_ACCESS_KEY_ID")
	}
	if c.RecordingsS3.SecretKey == "" {
		c.RecordingsS3.SecretKey = getenv("AWS_SECRET_ACCESS_KEY")
	}
	// Stripe's own variable names are what operators already have in their secrets.
	if c.StripeSecretKey == "" {
		c.StripeSecretKey = getenv("STRIPE_SECRET_KEY")
	}
	if c.StripeWebhookSecret == "" {
		c.StripeWebhookSecret = getenv("STRIPE_WEBHOOK_SECRET")
	}
	if c.StripeConnectWebhookSecret == "" {
		c.StripeConnectWebhookSecret = getenv("STRIPE_CONNECT_WEBHOOK_SECRET")
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	given := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { given[f.Name] = getenv(EnvName(f.Name)) != "" })
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["udp-port"] && !given["tcp-addr"] && c.TCPAddr == Default().TCPAddr {
		// Nodes on one machine, each given its own --udp-port, get their own ICE-TCP port
		// too: the same number (a TCP and a UDP port do not collide), or any when 0.
		c.TCPAddr = ":" + strconv.Itoa(c.UDPPort)
	}
	named := given["node-id"]
	if !named || c.NodeID == "" {
		// Nodes on one machine (a development fleet) must not share a name: the fleet's
		// registry and every viewer session are keyed by it.
		c.NodeID = hostname()
		if _, port, err := net.SplitHostPort(c.HTTPAddr); err == nil && port != "" {
			c.NodeID += "-" + port
		}
	}
	return c, c.Validate()
}

// Validate reports every setting that cannot work, all at once.
func (c Config) Validate() error {
	return errors.Join(slices.Concat(c.networkErrors(), c.limitErrors(), c.serviceErrors(), c.secretErrors())...)
}

// networkErrors are the settings of where media and webhooks may go.
func (c Config) networkErrors() []error {
	var errs []error
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		errs = append(errs, fmt.Errorf("udp-port %d out of range", c.UDPPort))
	}
	for _, ip := range c.NAT1To1IPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			errs = append(errs, fmt.Errorf("nat-1to1-ips: %w", err))
		}
	}
	if _, err := c.RemotePrefixes(); err != nil {
		errs = append(errs, err)
	}
	if _, err := parsePrefixes("relay-networks", c.RelayNetworks); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := c.RelayPortRange(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.WebhookAllowPrefixes(); err != nil {
		errs = append(errs, err)
	}
	if c.RelayIdle <= 0 {
		errs = append(errs, errors.New("relay-idle must be positive"))
	}
	for _, s := range c.STUNServers {
		if !strings.HasPrefix(s, "stun:") && !strings.HasPrefix(s, "stuns:") {
			errs = append(errs, fmt.Errorf("stun-servers: %q is not a stun: URL", s))
		}
	}
	return append(errs, c.turnErrors()...)
}

// turnErrors are the TURN server's settings that cannot work.
func (c Config) turnErrors() []error {
	t := c.TURN
	if !t.On() {
		return nil
	}
	var errs []error
	if len(t.Secret) < 32 {
		errs = append(errs, errors.New("turn-secret: 32+ bytes are needed when a TURN listener is on"))
	}
	if t.TLSAddr != "" && (t.CertFile == "" || t.KeyFile == "") {
		errs = append(errs, errors.New("turn-tls-addr needs --turn-cert and --turn-key"))
	}
	if t.RelayIP != "" {
		if _, err := netip.ParseAddr(t.RelayIP); err != nil {
			errs = append(errs, fmt.Errorf("turn-relay-ip: %w", err))
		}
	}
	if t.TTL < time.Minute {
		errs = append(errs, errors.New("turn-ttl must be a minute or more (a join and an ICE restart fit in it)"))
	}
	if t.MaxPerSession <= 0 || t.MaxPerClient <= 0 {
		errs = append(errs, errors.New("turn-max-per-session and turn-max-per-client must be positive"))
	}
	if _, err := c.TURNHost(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// TURNHost is the host in the TURN URLs: --turn-host, else --public-url's.
func (c Config) TURNHost() (string, error) {
	if c.TURN.Host != "" {
		return c.TURN.Host, nil
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || u.Hostname() == "" {
		return "", errors.New("turn-host: not set and --public-url has no host")
	}
	return u.Hostname(), nil
}

// limitErrors are the bounds on requests, sessions and the node's load.
func (c Config) limitErrors() []error {
	var errs []error
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("max-body-bytes must be positive"))
	}
	if n := c.PacketCacheSize; n <= 0 || n&(n-1) != 0 {
		errs = append(errs, fmt.Errorf("packet-cache-size %d must be a power of two", n))
	}
	if c.ReadTimeout <= 0 || c.WriteTimeout <= 0 {
		errs = append(errs, errors.New("read-timeout and write-timeout must be positive"))
	}
	if c.ConnectTimeout < 0 || c.MaxPendingPerClient < 0 || c.MaxPending < 0 {
		errs = append(errs, errors.New("connect-timeout, max-pending-per-client and max-pending must not be negative"))
	}
	if _, err := c.Rules(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxEventStreamsPerClient < 0 || c.MaxEventStreams < 0 || c.MaxViewers < 0 || c.MaxEgressMbps < 0 {
		errs = append(errs, errors.New("max-event-streams-per-client, max-event-streams, max-viewers and max-egress-mbps must not be negative"))
	}
	if c.MaxCPUPercent < 0 || c.MaxCPUPercent > 100 {
		errs = append(errs, fmt.Errorf("max-cpu-percent %d: want 0 to 100", c.MaxCPUPercent))
	}
	if c.ShedCPUPercent < 0 || c.ShedCPUPercent > 100 {
		errs = append(errs, fmt.Errorf("shed-cpu-percent %d: want 0 to 100", c.ShedCPUPercent))
	} else if c.ShedCPUPercent > 0 && c.MaxCPUPercent >= c.ShedCPUPercent {
		errs = append(errs, fmt.Errorf("shed-cpu-percent %d must be above max-cpu-percent %d: new viewers are refused before anyone is shed", c.ShedCPUPercent, c.MaxCPUPercent))
	}
	if c.MaxMediaSections < 1 || c.MaxSDPLine < 256 || c.MaxPatchBytes < 1024 {
		errs = append(errs, errors.New("max-media-sections must be at least 1, max-sdp-line at least 256, max-patch-bytes at least 1024"))
	}
	if c.SessionTTL < time.Second {
		errs = append(errs, errors.New("session-ttl must be at least 1s"))
	}
	if c.MaxCandidates < 1 || c.MaxPatches < 1 {
		errs = append(errs, errors.New("max-candidates and max-patches must be at least 1"))
	}
	return errs
}

// serviceErrors are the settings of logs, the database, recordings and sessions.
func (c Config) serviceErrors() []error {
	var errs []error
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level %q unknown", c.LogLevel))
	}
	if c.ReconnectGrace < 0 {
		errs = append(errs, errors.New("reconnect-grace must not be negative"))
	}
	if err := c.checkDatabaseURL(); err != nil {
		errs = append(errs, err)
	}
	if c.RecordingsS3.Endpoint != "" && c.RecordingsS3.Bucket == "" {
		errs = append(errs, errors.New("recordings-s3-bucket is required with recordings-s3-endpoint"))
	}
	if c.ReplayWindow <= 0 || c.RecordingRetention <= 0 || c.RecordingSweep <= 0 {
		errs = append(errs, errors.New("replay-window, recording-retention and recording-sweep must be positive"))
	}
	return errs
}

// secretErrors are the keys, and what production asks of them.
func (c Config) secretErrors() []error {
	var errs []error
	if _, err := c.OperatorKeyMap(); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.Production:
		errs = append(errs, c.productionErrors()...)
	case LiveStripeKey(c.StripeSecretKey):
		// Real money never meets a development door: name everything still missing.
		errs = append(errs, errors.New("a live Stripe key (sk_live_/rk_live_) moves real money: start with --production"))
		errs = append(errs, c.productionErrors()...)
	}
	return errs
}

// listFlag is a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	*l = nil
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

// checkDatabaseURL refuses a database URL livegate does not use (empty: SQLite in the
// data directory).
func (c Config) checkDatabaseURL() error {
	if c.DatabaseURL == "" {
		return nil
	}
	if _, err := store.ParseDatabaseURL(c.DatabaseURL); err != nil {
		return fmt.Errorf("database-url: %w", err)
	}
	return nil
}

// SQLite says whether the node keeps its data in a SQLite file (no PostgreSQL URL).
func (c Config) SQLite() bool {
	db, err := store.ParseDatabaseURL(c.DatabaseURL)
	return err != nil || !db.Postgres
}

// RemotePrefixes is --remote-networks parsed: the one place it is read.
func (c Config) RemotePrefixes() ([]netip.Prefix, error) {
	return parsePrefixes("remote-networks", c.RemoteNetworks)
}

// WebhookAllowPrefixes is --webhook-allow-networks parsed.
func (c Config) WebhookAllowPrefixes() ([]netip.Prefix, error) {
	return parsePrefixes("webhook-allow-networks", c.WebhookAllowNetworks)
}

// RelayPortRange is --relay-udp-ports parsed (0, 0 when unset).
func (c Config) RelayPortRange() (lo, hi uint16, err error) {
	if c.RelayUDPPorts == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(c.RelayUDPPorts, "-")
	x, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	y, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if !ok || err1 != nil || err2 != nil || x == 0 || y < x {
		return 0, 0, fmt.Errorf("relay-udp-ports %q: want MIN-MAX, 1 to 65535", c.RelayUDPPorts)
	}
	return uint16(x), uint16(y), nil
}

// RelayPrefixes is --relay-networks parsed.
func (c Config) RelayPrefixes() ([]netip.Prefix, error) {
	return parsePrefixes("relay-networks", c.RelayNetworks)
}

func parsePrefixes(flag string, list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, n := range list {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// OperatorKeyMap is --operator-keys parsed, name to key: the one place it is read.
func (c Config) OperatorKeyMap() (map[string]string, error) {
	out := make(map[string]string, len(c.OperatorKeys))
	for _, kv := range c.OperatorKeys {
		name, key, ok := strings.Cut(kv, "=")
		if !ok || name == "" || len(key) < 16 {
			return nil, errors.New("operator-keys: each entry is name=key with a key of 16+ characters")
		}
		out[name] = key
	}
	return out, nil
}

// Rules are the rate limits in force: admission's defaults with --rate-limits applied;
// the one place it is read.
func (c Config) Rules() (admission.Rules, error) {
	rs := admission.DefaultRules()
	if err := rs.Set(c.RateLimits); err != nil {
		return nil, fmt.Errorf("rate-limits: %w", err)
	}
	return rs, nil
}

// USDRateTable reads --usd-rates; nil without one.
func (c Config) USDRateTable() (*money.RateTable, error) {
	if c.USDRates == "" {
		return nil, nil
	}
	f, err := os.Open(c.USDRates)
	if err != nil {
		return nil, fmt.Errorf("usd-rates: %w", err)
	}
	defer f.Close()
	return money.ReadRateTable(f)
}
