// Package turn is the node's own TURN server (pion/turn), for viewers and publishers
// whose networks drop UDP or let only TLS on port 443 through, as many mobile and office
// networks do. It is not an open relay: every allocation may reach one address only,
// this node's media socket, and clients authenticate with short-lived credentials
// derived per session from a shared secret (the TURN REST scheme, as coturn's
// use-auth-secret), which the WHIP and WHEP handlers hand out in Link headers.
package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // G505: the TURN REST scheme's HMAC is HMAC-SHA1, which clients and coturn expect
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is what the server listens on and whom it relays to.
type Config struct {
	// Secret derives every credential; it is shared with no client.
	Secret []byte
	// Host is the name (or address) clients reach the listeners at; a TLS client checks
	// the certificate against it.
	Host string
	// UDPAddr, TCPAddr and TLSAddr are the listen addresses; an empty one is off.
	UDPAddr, TCPAddr, TLSAddr string
	// CertFile and KeyFile are the TLS listener's certificate chain and key (PEM).
	CertFile, KeyFile string
	// Media is where relayed packets go: the node's ICE UDP socket. Relay sockets are
	// bound on its address, which is also the relay address clients are told (only the
	// node ever sends to it). NodeIPs are the addresses a client may name the node by
	// in a permission (its ICE candidates); any of them is delivered to Media.
	Media   netip.AddrPort
	NodeIPs []netip.Addr
	// TTL is how long a credential is good for (an allocation made with it may be
	// refreshed until then).
	TTL time.Duration
	// MaxPerSession and MaxPerClient bound the live allocations of one credential and of
	// one client address (a browser makes one per server URL and local address).
	MaxPerSession, MaxPerClient int
	Logger                      *slog.Logger
	// PionLogs carries pion's own log lines into Logger's handler; nil: pion's default.
	PionLogs   logging.LoggerFactory
	Registerer prometheus.Registerer
}

// Realm is the TURN realm; clients take it from the server's challenge.
const Realm = "livegate"

// DefaultTTL is a credential's lifetime: long enough for a join and an ICE restart or two,
// short enough that a leaked one is soon worthless.
const DefaultTTL = 10 * time.Minute

// ICEServer is one entry for a client's RTCConfiguration.iceServers.
type ICEServer struct {
	URL        string
	Username   string
	Credential string
}

// Server is a running TURN server.
type Server struct {
	cfg     Config
	srv     *pionturn.Server
	log     *slog.Logger
	metrics metrics

	mu        sync.Mutex
	perUser   map[string]int
	perClient map[netip.Addr]int
	ports     map[uint16]int // relay sockets' ports (an IPv4 and an IPv6 one may share one)

	// bound are the listeners' addresses as bound (a configured port may be 0).
	udpBound, tcpBound, tlsBound string

	now func() time.Time
}

type metrics struct {
	allocations prometheus.Gauge
	refused     *prometheus.CounterVec
	dropped     prometheus.Counter
}

// New starts the listeners Config names.
func New(cfg Config) (*Server, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("turn: no secret")
	}
	if !cfg.Media.IsValid() {
		return nil, errors.New("turn: no media address")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, perUser: map[string]int{}, perClient: map[netip.Addr]int{}, ports: map[uint16]int{}, now: time.Now,
		metrics: metrics{
			allocations: prometheus.NewGauge(prometheus.GaugeOpts{Name: "livegate_turn_allocations",
				Help: "TURN relay allocations open on this node."}),
			refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livegate_turn_refused_total",
				Help: "TURN requests refused, by reason (credentials, quota, peer)."}, []string{"reason"}),
			dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "livegate_turn_relay_dropped_total",
				Help: "Relayed datagrams dropped for being to or from anywhere but the node's media socket."}),
		}}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{s.metrics.allocations, s.metrics.refused, s.metrics.dropped} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("turn: metrics: %w", err)
			}
		}
	}

	gen := &relayGenerator{s: s}
	var packetConns []pionturn.PacketConnConfig
	var listeners []pionturn.ListenerConfig
	closeAll := func() {
		for _, p := range packetConns {
			_ = p.PacketConn.Close()
		}
		for _, l := range listeners {
			_ = l.Listener.Close()
		}
	}
	if cfg.UDPAddr != "" {
		pc, err := net.ListenPacket("udp", cfg.UDPAddr) //nolint:noctx // a listener for the server's life
		if err != nil {
			return nil, fmt.Errorf("turn: udp listener: %w", err)
		}
		s.udpBound = pc.LocalAddr().String()
		packetConns = append(packetConns, pionturn.PacketConnConfig{PacketConn: pc, RelayAddressGenerator: gen, PermissionHandler: s.permit})
	}
	if cfg.TCPAddr != "" {
		ln, err := net.Listen("tcp", cfg.TCPAddr) //nolint:noctx // a listener for the server's life
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("turn: tcp listener: %w", err)
		}
		s.tcpBound = ln.Addr().String()
		listeners = append(listeners, pionturn.ListenerConfig{Listener: ln, RelayAddressGenerator: gen, PermissionHandler: s.permit})
	}
	if cfg.TLSAddr != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("turn: tls certificate: %w", err)
		}
		ln, err := tls.Listen("tcp", cfg.TLSAddr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("turn: tls listener: %w", err)
		}
		s.tlsBound = ln.Addr().String()
		listeners = append(listeners, pionturn.ListenerConfig{Listener: ln, RelayAddressGenerator: gen, PermissionHandler: s.permit})
	}
	if len(packetConns) == 0 && len(listeners) == 0 {
		return nil, errors.New("turn: no listener configured")
	}
	srv, err := pionturn.NewServer(pionturn.ServerConfig{
		PacketConnConfigs: packetConns,
		ListenerConfigs:   listeners,
		Realm:             Realm,
		AuthHandler:       s.authenticate,
		QuotaHandler:      s.quota,
		EventHandler: pionturn.EventHandler{
			OnAllocationCreated: func(src, _ net.Addr, _, _, _ string, _ net.Addr, _ int) { s.clientAllocated(src, 1) },
			OnAllocationDeleted: func(src, _ net.Addr, _, _, _ string) { s.clientAllocated(src, -1) },
		},
		LoggerFactory:      cfg.PionLogs,
		AllocationLifetime: 10 * time.Minute,
	})
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("turn: %w", err)
	}
	s.srv = srv
	return s, nil
}

// Close stops the listeners and every allocation.
func (s *Server) Close() error { return s.srv.Close() }

// ICEServers are the URLs of the listeners with a credential for session id, good for
// the configured TTL from now.
func (s *Server) ICEServers(id string) []ICEServer {
	user, pass := s.credential(id, s.now().Add(s.cfg.TTL))
	host := s.cfg.Host
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	var out []ICEServer
	add := func(scheme, bound, transport string) {
		if bound == "" {
			return
		}
		_, port, err := net.SplitHostPort(bound)
		if err != nil {
			return
		}
		out = append(out, ICEServer{URL: scheme + ":" + host + ":" + port + "?transport=" + transport, Username: user, Credential: pass})
	}
	add("turn", s.udpBound, "udp")
	add("turn", s.tcpBound, "tcp")
	add("turns", s.tlsBound, "tcp")
	return out
}

// credential is the TURN REST pair: the username carries its expiry and the session,
// the password is the HMAC of the username under the secret, so any node with the
// secret can check it without a lookup.
func (s *Server) credential(id string, expires time.Time) (user, pass string) {
	user = strconv.FormatInt(expires.Unix(), 10) + ":" + id
	return user, s.password(user)
}

func (s *Server) password(user string) string {
	mac := hmac.New(sha1.New, s.cfg.Secret)
	mac.Write([]byte(user))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// authenticate answers pion's question "what is this username's key": the key is derived
// from the password the secret gives, so a wrong password fails pion's message
// integrity check (an HMAC comparison) without the password ever being stored.
func (s *Server) authenticate(ra *pionturn.RequestAttributes) (string, []byte, bool) {
	expiry, id, ok := strings.Cut(ra.Username, ":")
	if !ok || id == "" {
		s.metrics.refused.WithLabelValues("credentials").Inc()
		return "", nil, false
	}
	exp, err := strconv.ParseInt(expiry, 10, 64)
	if err != nil || s.now().Unix() > exp {
		s.metrics.refused.WithLabelValues("credentials").Inc()
		return "", nil, false
	}
	return id, pionturn.GenerateAuthKey(ra.Username, ra.Realm, s.password(ra.Username)), true
}

// quota refuses an allocation (486) past the bounds per session and per client address.
func (s *Server) quota(userID, _ string, src net.Addr) bool {
	ip := addrIP(src)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.MaxPerSession > 0 && s.perUser[userID] >= s.cfg.MaxPerSession ||
		s.cfg.MaxPerClient > 0 && s.perClient[ip] >= s.cfg.MaxPerClient {
		s.metrics.refused.WithLabelValues("quota").Inc()
		return false
	}
	return true
}

func (s *Server) clientAllocated(src net.Addr, delta int) {
	ip := addrIP(src)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perClient[ip] += delta
	if s.perClient[ip] <= 0 {
		delete(s.perClient, ip)
	}
}

// reserve counts an allocation of a session for as long as its relay socket is open; it
// is the hard bound (the quota handler's check and the allocation are not one step).
func (s *Server) reserve(userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.MaxPerSession > 0 && s.perUser[userID] >= s.cfg.MaxPerSession {
		s.metrics.refused.WithLabelValues("quota").Inc()
		return false
	}
	s.perUser[userID]++
	s.metrics.allocations.Inc()
	return true
}

func (s *Server) release(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perUser[userID]--
	if s.perUser[userID] <= 0 {
		delete(s.perUser, userID)
	}
	s.metrics.allocations.Dec()
}

// permit lets a client open a permission or channel to the node only.
func (s *Server) permit(_ net.Addr, peer net.IP) bool {
	ip, ok := netip.AddrFromSlice(peer)
	if ok && s.isNode(ip.Unmap()) {
		return true
	}
	s.metrics.refused.WithLabelValues("peer").Inc()
	return false
}

func (s *Server) isNode(ip netip.Addr) bool {
	if ip == s.cfg.Media.Addr() {
		return true
	}
	for _, n := range s.cfg.NodeIPs {
		if ip == n {
			return true
		}
	}
	return false
}

// RelayPortOpen reports whether a relay socket of this server has port: the only ports
// of the relay address the node's ICE may send checks to.
func (s *Server) RelayPortOpen(port uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ports[port] > 0
}

func (s *Server) portOpened(port uint16, delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ports[port] += delta
	if s.ports[port] <= 0 {
		delete(s.ports, port)
	}
}

// Allocations is how many relay allocations are open.
func (s *Server) Allocations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.perUser {
		n += c
	}
	return n
}

func addrIP(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
