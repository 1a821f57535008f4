// Package config holds the one Config struct of a livegate node and fills it from
// command-line flags and LIVEGATE_* environment variables (flags win).
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Config is everything a livegate node can be told. Every field has a flag and an
// environment variable named LIVEGATE_ plus the flag name in upper snake case.
type Config struct {
	HTTPAddr    string // address of the HTTP API, WHIP/WHEP and /metrics
	PublicURL   string // base URL clients reach this node at; used in WHIP/WHEP URLs
	DataDir     string // where the embedded SQLite database lives
	DatabaseURL string // PostgreSQL URL; when set, SQLite is not used
	NodeID      string // this node's name in logs and, later, the cluster registry

	APIKey     string // operator/creator API key for /v1 (compared in constant time)
	Production bool   // refuse unsafe development defaults

	// Media plane.
	UDPPort         int           // one UDP port for every peer (ICE UDP mux)
	TCPAddr         string        // ICE-TCP mux listen address; empty disables ICE-TCP
	NAT1To1IPs      []string      // public IPs announced as host candidates
	STUNServers     []string      // STUN URLs given to clients in Link headers
	Interfaces      []string      // network interfaces to gather candidates on; empty means all
	IncludeLoopback bool          // gather loopback candidates (tests, single-machine setups)
	DisableMDNS     bool          // never use mDNS candidates
	ShutdownGrace   time.Duration // media keeps flowing this long after SIGTERM
	MaxBodyBytes    int64         // bound on WHIP/WHEP and JSON request bodies
	PLIThrottle     time.Duration // at most one keyframe request per publisher track per interval
	PacketCacheSize int           // packets kept per publisher track to answer NACKs
	LogLevel        string        // debug, info, warn, error
	DebugAddr       string        // serves net/http/pprof when set (keep it private)
}

// Default returns the configuration of a single node that needs no external service.
func Default() Config {
	return Config{
		HTTPAddr:        ":8080",
		PublicURL:       "http://localhost:8080",
		DataDir:         "./data",
		NodeID:          hostname(),
		UDPPort:         7882,
		TCPAddr:         ":7881",
		ShutdownGrace:   10 * time.Second,
		MaxBodyBytes:    64 << 10,
		PLIThrottle:     500 * time.Millisecond,
		PacketCacheSize: 1024,
		LogLevel:        "info",
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "livegate"
	}
	return h
}

// Load reads flags from args (without the program name) and LIVEGATE_* variables from
// getenv. A flag given on the command line beats the environment. -h/--help prints every
// option to out and returns flag.ErrHelp.
func Load(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet("livegate", flag.ContinueOnError)
	fs.SetOutput(out)

	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "address of the HTTP API, WHIP/WHEP and /metrics")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "base URL clients reach this node at")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the embedded SQLite database")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostgreSQL URL (postgres://...); empty uses SQLite in --data-dir")
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "this node's name")
	fs.StringVar(&c.APIKey, "api-key", c.APIKey, "operator/creator API key for /v1 (required with --production)")
	fs.BoolVar(&c.Production, "production", c.Production, "refuse development defaults")
	fs.IntVar(&c.UDPPort, "udp-port", c.UDPPort, "UDP port shared by every WebRTC peer (ICE UDP mux); 0 picks one")
	fs.StringVar(&c.TCPAddr, "tcp-addr", c.TCPAddr, "ICE-TCP listen address; empty disables ICE-TCP")
	fs.Var((*listFlag)(&c.NAT1To1IPs), "nat-1to1-ips", "comma-separated public IPs announced instead of local ones")
	fs.Var((*listFlag)(&c.STUNServers), "stun-servers", "comma-separated STUN URLs (stun:host:port) offered to clients")
	fs.Var((*listFlag)(&c.Interfaces), "interfaces", "comma-separated network interfaces to use for media; empty means all")
	fs.BoolVar(&c.IncludeLoopback, "include-loopback", c.IncludeLoopback, "offer loopback ICE candidates")
	fs.BoolVar(&c.DisableMDNS, "disable-mdns", c.DisableMDNS, "never gather or resolve mDNS candidates")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", c.ShutdownGrace, "how long media keeps flowing after SIGTERM")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest accepted request body")
	fs.DurationVar(&c.PLIThrottle, "pli-throttle", c.PLIThrottle, "minimum interval between keyframe requests per track")
	fs.IntVar(&c.PacketCacheSize, "packet-cache-size", c.PacketCacheSize, "packets kept per publisher track for NACK answers (power of two)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.DebugAddr, "debug-addr", c.DebugAddr, "address for /debug/pprof (e.g. 127.0.0.1:6060); empty disables")

	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: livegate [flags]\n\nEvery flag can also be set as LIVEGATE_<NAME> (e.g. LIVEGATE_HTTP_ADDR).\n\n")
		fs.PrintDefaults()
	}

	// Environment first, so flags parsed afterwards win.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "LIVEGATE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s: %w", name, err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		errs = append(errs, fmt.Errorf("udp-port %d out of range", c.UDPPort))
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("max-body-bytes must be positive"))
	}
	if n := c.PacketCacheSize; n <= 0 || n&(n-1) != 0 {
		errs = append(errs, fmt.Errorf("packet-cache-size %d must be a power of two", n))
	}
	for _, ip := range c.NAT1To1IPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			errs = append(errs, fmt.Errorf("nat-1to1-ips: %w", err))
		}
	}
	for _, s := range c.STUNServers {
		if !strings.HasPrefix(s, "stun:") && !strings.HasPrefix(s, "stuns:") {
			errs = append(errs, fmt.Errorf("stun-servers: %q is not a stun: URL", s))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level %q unknown", c.LogLevel))
	}
	if c.Production && c.APIKey == "" {
		errs = append(errs, errors.New("--production needs --api-key"))
	}
	if c.Production && len(c.APIKey) < 16 {
		errs = append(errs, errors.New("--production needs an api-key of at least 16 characters"))
	}
	return errors.Join(errs...)
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
