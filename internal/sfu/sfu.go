// Package sfu is livegate's media plane: one Room per live stream, where the publisher's
// tracks are read once and fanned out to every viewer with per-viewer sequence and
// timestamp rewriting, keyframe-aligned joins, and NACKs answered from one packet cache per
// track. It knows nothing of HTTP, money or who may watch; callers decide that.
package sfu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/ids"
	"github.com/livegate/livegate/internal/netpolicy"
	"github.com/livegate/livegate/internal/problem"
)

// Errors of a negotiation, with the problem a WHIP/WHEP caller gets for each.
var (
	ErrBadOffer = &problem.Error{Status: http.StatusBadRequest, Type: "bad-sdp", Title: "Malformed SDP offer",
		Msg: "unusable SDP offer"}
	ErrNoCodec = &problem.Error{Status: http.StatusBadRequest, Type: "unsupported-codec", Title: "No supported codec",
		Msg: "no supported codec in offer"}
	ErrNotLive  = problem.ErrStreamNotLive.With("the publisher is not connected")
	ErrDraining = &problem.Error{Status: http.StatusServiceUnavailable, Type: "draining", Title: "Node is shutting down",
		Msg: "node is shutting down", Hint: "retry on another node", RetryAfter: 5 * time.Second}
	ErrClosed = errors.New("peer closed")
	// ErrLayoutChanged: a relay offer made for fewer tracks than the stream has now (a
	// layer started since the edge asked); the edge asks again.
	ErrLayoutChanged = &problem.Error{Status: http.StatusConflict, Type: "relay-layout-changed", Title: "The stream's tracks changed",
		Msg: "the stream has more tracks than the relay offer has sections", Hint: "fetch the layout again"}
	// ErrRoomExists: a pull for a stream this node already has a room for.
	ErrRoomExists = errors.New("the stream already has a room on this node")
)

// Config is what the SFU needs from the node's configuration.
type Config struct {
	UDPPort         int      // ICE UDP mux port; 0 picks a free one
	TCPAddr         string   // ICE-TCP mux listen address; empty disables ICE-TCP
	NAT1To1IPs      []string // announced instead of local host addresses
	Interfaces      []string // interfaces to gather on; empty means all
	IncludeLoopback bool
	DisableMDNS     bool
	// RemoteNetworks limits the addresses media and ICE checks are sent to (every remote
	// candidate, peer-reflexive ones included, must be inside one).
	RemoteNetworks []netip.Prefix
	// PublicOnly, when RemoteNetworks is empty, refuses remote candidates in private,
	// loopback, link-local, shared (CGNAT) and reserved ranges: a node on the internet
	// must not be aimed at its own neighbours (production's default).
	PublicOnly      bool
	PLIThrottle     time.Duration // 0: every keyframe request goes through
	PacketCacheSize int           // a power of two
	// TracksWait bounds how long a viewer's join waits for a just-connected publisher's
	// tracks to arrive.
	TracksWait time.Duration
	// ReconnectGrace is how long a live stream whose publisher dropped without DELETE
	// waits for it to reconnect, viewers still attached; 0 ends the stream at once.
	ReconnectGrace time.Duration
	// ConnectTimeout is how long a viewer's connection may take to come up (ICE and
	// DTLS) after its answer; one that has not is closed. 0 leaves it to ICE's own
	// timeouts (half a minute).
	ConnectTimeout time.Duration
	// RelayPorts are the UDP ports relays between nodes gather on, each relay its own
	// (zero: any free port).
	RelayPorts PortRange
	// RelayNetworks are where other nodes of the fleet may be reached for relays (with
	// RemoteNetworks); empty with RemoteNetworks empty: anywhere.
	RelayNetworks []netip.Prefix
	// RED offers redundant audio (audio/red): publishers that offer it send it, and
	// viewers that take it get it, built here from plain Opus when the publisher sends
	// that, so that a viewer's lost audio packet is found in the next one.
	RED     bool
	Logger  *slog.Logger
	Metrics *Metrics
}

// defaultTracksWait is TracksWait when unset.
const defaultTracksWait = 3 * time.Second

// firstDTLSRetransmit is how long the first DTLS flight waits before it is resent.
const firstDTLSRetransmit = 100 * time.Millisecond

// ReasonShutdown is why every room closes when the node stops.
const ReasonShutdown = "node shutting down"

// SFU owns the ICE sockets and every room on this node.
type SFU struct {
	cfg         Config
	log         *slog.Logger
	metrics     *Metrics
	pubAPI      *webrtc.API
	subAPI      *webrtc.API
	relayAPI    *webrtc.API // an edge's pulls from origins
	relaySubAPI *webrtc.API // an origin's side of them
	udpMux      ice.UDPMux
	fanOuts     *fanOuts // batches the sends of the viewers' shared port during a fan-out
	tcpMux      ice.TCPMux
	tcpLn       net.Listener
	draining    atomic.Bool
	shedding    atomic.Int64 // viewers held below full video by the node's load (shed.go)
	// stunGuard is the UDP mux's (stunguard.go). It also holds the node's own TURN
	// relay address when that needs an exception: a client's relay candidate there
	// passes the remote filter even where the node's private or loopback neighbours do
	// not, and the guard keeps the checks sent there to live relay ports.
	stunGuard *stunGuard

	mu     sync.Mutex
	rooms  map[string]*Room
	closed bool

	// A viewer connection's estimator and pacer, handed over while Subscribe holds
	// sendSideMu around NewPeerConnection (the interceptor factory runs within it).
	sendSideMu  sync.Mutex
	newSendSide *sendSide

	endings sync.WaitGroup // rooms' OnEnd calls under way
}

// New opens the UDP (and TCP) ports and prepares the WebRTC stacks.
func New(cfg Config) (*SFU, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	// The node's configuration is the one source of these values (config.Default);
	// the SFU takes them as given. Only TracksWait, which no operator sets, has its own.
	if n := cfg.PacketCacheSize; n <= 0 || n > 1<<15 || n&(n-1) != 0 {
		return nil, fmt.Errorf("packet cache size %d: want a power of two up to 32768", n)
	}
	if cfg.PLIThrottle < 0 || cfg.ReconnectGrace < 0 {
		return nil, errors.New("negative keyframe throttle or reconnect grace")
	}
	if cfg.TracksWait <= 0 {
		cfg.TracksWait = defaultTracksWait
	}
	s := &SFU{cfg: cfg, log: cfg.Logger, metrics: cfg.Metrics, rooms: map[string]*Room{}}

	ifFilter := func(string) bool { return true }
	if len(cfg.Interfaces) > 0 {
		ifFilter = func(name string) bool { return slices.Contains(cfg.Interfaces, name) }
	}
	loggerFactory := newPionLogs(cfg.Logger.With("component", "pion"))

	s.stunGuard = newSTUNGuard(s.metrics.STUNHeldBack.Inc)
	udpMux, err := newUDPMux(cfg.UDPPort, ifFilter, cfg.IncludeLoopback, 4<<20, s.stunGuard,
		loggerFactory.NewLogger("ice-mux"), cfg.Logger)
	if err != nil {
		return nil, err
	}
	s.udpMux, s.fanOuts = udpMux, udpMux.fanOuts
	if cfg.TCPAddr != "" {
		ln, err := new(net.ListenConfig).Listen(context.Background(), "tcp", cfg.TCPAddr)
		if err != nil {
			udpMux.Close()
			return nil, fmt.Errorf("listen tcp %s: %w", cfg.TCPAddr, err)
		}
		s.tcpLn = ln
		// A connection that has sent no STUN within seconds is dropped: pion's default
		// half-minute lets idle connections pile up, and a node's close waits for each.
		s.tcpMux = ice.NewTCPMuxDefault(ice.TCPMuxParams{Listener: ln, Logger: loggerFactory.NewLogger("ice-tcp"), ReadBufferSize: 64,
			WriteBufferSize: 4 << 20, FirstStunBindTimeout: firstSTUNTimeout})
	}

	settings := webrtc.SettingEngine{LoggerFactory: loggerFactory}
	settings.SetICEUDPMux(udpMux)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if s.tcpMux != nil {
		settings.SetICETCPMux(s.tcpMux)
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	settings.SetNetworkTypes(networks)
	settings.SetInterfaceFilter(ifFilter)
	settings.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	if cfg.DisableMDNS {
		settings.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	viewerFilter := remoteFilter(cfg.RemoteNetworks, cfg.PublicOnly)
	settings.SetRemoteIPFilter(func(ip net.IP) bool {
		if own := s.stunGuard.relay.Load(); own != nil {
			if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap() == own.ip {
				return true
			}
		}
		return viewerFilter(ip)
	})
	// The node only accepts ICE-TCP: an active side would open TCP connections to any
	// address a client names.
	settings.DisableActiveTCP(true)
	if len(cfg.NAT1To1IPs) > 0 {
		if err := settings.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{External: cfg.NAT1To1IPs,
			AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace}); err != nil {
			_ = s.closeSockets() // the error that stopped New is the one to report
			return nil, fmt.Errorf("nat-1to1-ips: %w", err)
		}
	}
	// GCM costs a sixth of AES-CM+HMAC per packet; browsers offer it.
	settings.SetSRTPProtectionProfiles(
		dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80,
	)
	settings.SetICETimeouts(5*time.Second, 15*time.Second, 2*time.Second)
	// The node answers with a=setup:active, so its ClientHello is the first DTLS flight,
	// often sent before the viewer's ICE has picked the pair it arrives on. pion's default
	// first retransmission waits a whole second; 100 ms, doubling, costs a few packets.
	settings.SetDTLSRetransmissionInterval(firstDTLSRetransmit)

	if s.pubAPI, err = newAPI(settings, true, cfg.RED, loggerFactory, cfg.Metrics, nil); err != nil {
		_ = s.closeSockets() // the error that stopped New is the one to report
		return nil, err
	}
	if s.subAPI, err = newAPI(settings, false, cfg.RED, loggerFactory, cfg.Metrics, func(ss *sendSide) {
		s.newSendSide = ss
	}); err != nil {
		_ = s.closeSockets() // the error that stopped New is the one to report
		return nil, err
	}
	// Nodes reach each other on their own network, which viewers' candidates may not
	// name: relays, authenticated by the cluster, have a filter of their own.
	relaySettings := settings
	// Between nodes the addresses are their own: a public address announced for viewers
	// behind 1:1 NAT is not where another node of the same network reaches this one.
	_ = relaySettings.SetICEAddressRewriteRules() // none: cannot fail
	// Each relay has sockets of its own, not the viewers' shared port: the mux tells
	// connections apart by the remote address, and every relay between the same two
	// nodes would have the same one (the other node's shared port), each taking the
	// others' packets. One connection per node pair carrying every relayed stream would
	// share one too, at the cost of renegotiating it as streams come and go, with every
	// stream's fate tied to that one negotiation; a socket per relay costs a port.
	relaySettings.SetICEUDPMux(nil)
	relaySettings.SetICETCPMux(nil)
	relaySettings.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	// Media between nodes never pauses (30+ packets a second, keepalives besides): a
	// relay silent for a second has lost its origin, and its edge looks for the stream's
	// next origin at once rather than after the five seconds a viewer's network gets.
	relaySettings.SetICETimeouts(relaySilence, 3*time.Second, 250*time.Millisecond)
	if !cfg.RelayPorts.IsZero() {
		if err := relaySettings.SetEphemeralUDPPortRange(cfg.RelayPorts.Min, cfg.RelayPorts.Max); err != nil {
			_ = s.closeSockets()
			return nil, fmt.Errorf("relay ports %v: %w", cfg.RelayPorts, err)
		}
	}
	relaySettings.SetRemoteIPFilter(remoteFilter(append(slices.Clone(cfg.RelayNetworks), cfg.RemoteNetworks...), false))
	if s.relayAPI, err = newRelayAPI(relaySettings, cfg.RED); err != nil {
		_ = s.closeSockets() // the error that stopped New is the one to report
		return nil, err
	}
	if s.relaySubAPI, err = newAPI(relaySettings, false, cfg.RED, loggerFactory, cfg.Metrics, func(ss *sendSide) {
		s.newSendSide = ss
	}); err != nil {
		_ = s.closeSockets() // the error that stopped New is the one to report
		return nil, err
	}
	return s, nil
}

// remoteFilter decides which remote candidates ICE may send to: never an address that
// cannot be one peer (unspecified, multicast, broadcast); inside nets when nets are
// given; else only public unicast addresses when publicOnly.
func remoteFilter(nets []netip.Prefix, publicOnly bool) func(net.IP) bool {
	return func(ip net.IP) bool {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			return false
		}
		return RemoteAllowed(a.Unmap(), nets, publicOnly)
	}
}

// RemoteAllowed is remoteFilter's decision for one address.
func RemoteAllowed(a netip.Addr, nets []netip.Prefix, publicOnly bool) bool {
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	if len(nets) > 0 {
		for _, p := range nets {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return !publicOnly || netpolicy.Public(a)
}

// newAPI builds the WebRTC stack of one side. Publishers get a NACK generator and receiver
// reports so we recover loss on ingest, and transport-wide congestion control feedback so
// their encoders' estimates (and a browser's simulcast layers) can ramp up. Viewers get
// sender reports (for lip sync) and a send-side bandwidth estimate from their transport-
// wide feedback (internal/bwe, behind livegate's pacer); their NACKs are answered from
// the shared packet cache, not a per-viewer buffer. onSendSide receives each new viewer
// connection's estimator and pacer, synchronously within NewPeerConnection.
func newAPI(settings webrtc.SettingEngine, publisher, red bool, loggers logging.LoggerFactory, metrics *Metrics,
	onSendSide func(*sendSide)) (*webrtc.API, error) {
	m, err := newMediaEngine(publisher, red)
	if err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if publisher {
		if err := addReceiving(reg); err != nil {
			return nil, err
		}
		fb, err := twcc.NewSenderInterceptor()
		if err != nil {
			return nil, fmt.Errorf("twcc feedback: %w", err)
		}
		reg.Add(fb)
	} else {
		sr, err := report.NewSenderInterceptor()
		if err != nil {
			return nil, fmt.Errorf("sender reports: %w", err)
		}
		reg.Add(mediaReports(sr))
		// After the sender reports, so that it stands outermost: a packet is paced,
		// numbered and recorded before the sender-report interceptor counts it.
		reg.Add(sendSideFactory{metrics: metrics, onNew: onSendSide})
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg),
		webrtc.WithSettingEngine(settings)), nil
}

// newRelayAPI builds the stack of an edge's pull: the publisher side's NACKs and
// receiver reports, and no transport-wide feedback, so that the origin neither paces the
// relay nor takes it for a viewer on a weak link: between nodes, every layer travels.
func newRelayAPI(settings webrtc.SettingEngine, red bool) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m, red); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := addReceiving(reg); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg),
		webrtc.WithSettingEngine(settings)), nil
}

// addReceiving adds what every receiving side has, a publisher's connection as an edge's
// pull: a NACK generator, so that loss is repaired, and receiver reports.
func addReceiving(reg *interceptor.Registry) error {
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return fmt.Errorf("nack generator: %w", err)
	}
	reg.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return fmt.Errorf("receiver reports: %w", err)
	}
	reg.Add(rr)
	return nil
}

// initialEstimate is a new viewer's bandwidth until its feedback says otherwise: enough
// for a 720p layer, so a viewer on a good link starts sharp, and one on a weak link
// comes down within a couple of seconds.
const initialEstimate = 2_500_000

// UDPAddrs are the addresses the ICE UDP mux listens on.
func (s *SFU) UDPAddrs() []net.Addr { return s.udpMux.GetListenAddresses() }

// AllowRelayAddress lets clients' relay candidates at the node's own TURN relay address
// through the remote filter where it would refuse that address (a private or loopback
// one in production); connectivity checks to it then go only to ports open says are
// the relay's sockets.
func (s *SFU) AllowRelayAddress(a netip.Addr, open func(port uint16) bool) {
	a = a.Unmap()
	if RemoteAllowed(a, s.cfg.RemoteNetworks, s.cfg.PublicOnly) {
		return // allowed as any address is: nothing to except
	}
	s.stunGuard.relay.Store(&relayAddr{ip: a, open: open})
}

// Drain refuses new publishers and viewers; media already flowing continues.
func (s *SFU) Drain() { s.draining.Store(true) }

// Close ends every room and releases the sockets.
func (s *SFU) Close() error {
	s.Drain()
	s.mu.Lock()
	s.closed = true
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	for _, r := range rooms {
		r.Close(ReasonShutdown)
	}
	// What the rooms' owners do when they end (recording the stream's end) is done
	// before Close returns, while the node's stores are still open.
	s.endings.Wait()
	return s.closeSockets()
}

func (s *SFU) closeSockets() error {
	var errs []error
	if s.udpMux != nil {
		errs = append(errs, s.udpMux.Close())
	}
	if s.tcpMux != nil {
		// pion's ICE-TCP mux waits, on close, for every connection it made to close, and
		// one it stopped listing is never closed by it: the node does not wait for it.
		closed := make(chan error, 1)
		go func() { closed <- s.tcpMux.Close() }()
		select {
		case err := <-closed:
			errs = append(errs, err)
		case <-time.After(2 * time.Second):
			s.log.Warn("the ICE-TCP mux did not close within 2 s; going on without it")
		}
	}
	if s.tcpLn != nil {
		_ = s.tcpLn.Close() // the TCP mux closes it too
	}
	return errors.Join(errs...)
}

// Room returns the live room of a stream, or nil.
func (s *SFU) Room(streamID string) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[streamID]
}

// EndRoom disconnects the publisher and every viewer of a stream, if it is live here.
func (s *SFU) EndRoom(streamID, reason string) {
	if r := s.Room(streamID); r != nil {
		r.Close(reason)
	}
}

func (s *SFU) removeRoom(r *Room) {
	s.mu.Lock()
	if s.rooms[r.id] == r {
		delete(s.rooms, r.id)
	}
	s.mu.Unlock()
}

// PublishOptions are a publisher's callbacks.
type PublishOptions struct {
	// OnLive runs once, on its own goroutine, when the publisher's connection is first up.
	OnLive func()
	// OnEnd runs once when the room ends, whatever the reason, after viewers were
	// disconnected. wasLive says whether the publisher ever connected: a publisher that
	// never got through (ICE failed, bad offer) has not started the broadcast. It runs on
	// its own goroutine.
	OnEnd func(reason string, wasLive bool)
	// OnLost runs, on its own goroutine, when the publisher's connection is lost and the
	// room waits for another (an edge pulls again from the origin).
	OnLost func()
}

// Publish answers a WHIP offer and opens the stream's room, or takes over the room of a
// publisher that dropped or is still attached (an encoder reconnecting with the stream's
// key, as OBS does): the old connection is closed and viewers resume on the new one.
// The answer carries every local candidate (the UDP mux gathers instantly), so clients
// need not trickle. opts are used when a room is opened; a takeover keeps the room's.
func (s *SFU) Publish(ctx context.Context, streamID, offer string, opts PublishOptions) (*Publisher, string, error) {
	if s.draining.Load() {
		return nil, "", ErrDraining
	}
	parsed, err := ParseOffer(offer)
	if err != nil {
		return nil, "", err
	}
	expected := parsed.sending()
	if expected == 0 {
		return nil, "", fmt.Errorf("%w: offer sends no audio or video with a supported codec", ErrNoCodec)
	}

	pc, err := s.pubAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", fmt.Errorf("new peer connection: %w", err)
	}
	var room *Room
	var p *Publisher
	for room == nil {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = pc.Close()
			return nil, "", ErrDraining
		}
		r, ok := s.rooms[streamID]
		if !ok {
			r = newRoom(s, streamID, expected, opts)
			s.rooms[streamID] = r
		}
		s.mu.Unlock()
		p = &Publisher{peer: newPeer(ids.Session(), pc), room: r, opts: opts}
		p.preferRED = s.cfg.RED
		if r.takeOver(p) { // false: the room closed meanwhile; open a new one
			room = r
		}
	}
	pc.OnTrack(func(remote *webrtc.TrackRemote, rtpReceiver *webrtc.RTPReceiver) {
		room.addTrack(p, remote, rtpReceiver, pc)
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			room.log.Info("publisher connected", "peer", p.ID())
			room.connected()
		case webrtc.PeerConnectionStateFailed:
			room.publisherGone(p, "publisher connection failed")
		case webrtc.PeerConnectionStateClosed:
			room.publisherGone(p, "publisher left")
		}
	})
	answer, err := p.answer(ctx, offer, parsed)
	if err != nil {
		room.publisherGone(p, "publisher negotiation failed")
		return nil, "", err
	}
	return p, answer, nil
}

// SubscribeOptions are a viewer's choices.
type SubscribeOptions struct {
	// MaxLayer is the highest simulcast layer the viewer wants (0 the lowest); AnyLayer
	// for no limit.
	MaxLayer int
	// Relay makes the connection an edge node's pull: every track and every simulcast
	// layer, each on its own track named for the edge (relayTrackID), none switched.
	Relay bool
	// Paid marks a viewer who paid (a ticket or subscription): on a saturated node it
	// keeps its video until every free viewer has given theirs up.
	Paid bool
}

// Subscribe answers a WHEP offer with the room's tracks. The viewer's video starts at a
// keyframe requested on join. id is the viewer's session id, the one the access plane
// opened: a viewer has one id from token to WHEP resource to /v1/sessions.
func (s *SFU) Subscribe(ctx context.Context, streamID, id, offer string, opts SubscribeOptions) (*Subscriber, string, error) {
	joinStart := time.Now()
	if s.draining.Load() {
		return nil, "", ErrDraining
	}
	parsed, err := ParseOffer(offer)
	if err != nil {
		return nil, "", err
	}
	room := s.Room(streamID)
	if room == nil {
		return nil, "", ErrNotLive
	}
	var fwds []*receiver
	if opts.Relay {
		// The edge asked for the layout (which waited for a new publisher's tracks)
		// just before: its offer is for the tracks there are now.
		fwds = room.tracksNow()
	}
	if len(fwds) == 0 {
		if fwds, err = room.waitTracks(ctx); err != nil {
			return nil, "", err
		}
	}
	var usable []*receiver
	for _, f := range fwds {
		if parsed.receives(f.kind, f.codec) {
			usable = append(usable, f)
		}
	}
	if len(usable) == 0 {
		return nil, "", fmt.Errorf("%w: the viewer accepts none of the stream's codecs", ErrNoCodec)
	}
	if opts.Relay && parsed.sections() < len(usable) {
		return nil, "", ErrLayoutChanged
	}

	api := s.subAPI
	if opts.Relay {
		api = s.relaySubAPI
	}
	s.sendSideMu.Lock()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	ss := s.newSendSide
	s.newSendSide = nil
	s.sendSideMu.Unlock()
	if err != nil {
		return nil, "", fmt.Errorf("new peer connection: %w", err)
	}
	sub := &Subscriber{peer: newPeer(id, pc), room: room, joinStart: joinStart, sendSide: ss, relay: opts.Relay, paid: opts.Paid}
	sub.SetMaxLayer(opts.MaxLayer)
	groups := trackLayers(usable)
	if opts.Relay {
		groups = groups[:0]
		for _, f := range usable {
			groups = append(groups, []*receiver{f})
		}
	}
	for _, layers := range groups {
		d := newDownTrack(sub, layers)
		if opts.Relay {
			d.relayID = relayTrackID(layers[0])
		}
		sender, err := pc.AddTrack(d)
		if err != nil {
			sub.close()
			return nil, "", fmt.Errorf("add track: %w", err)
		}
		d.sender = sender
		sub.downs = append(sub.downs, d)
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			sub.activate()
			sub.connected.fire()
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			sub.Close()
		}
	})
	answer, err := sub.answer(ctx, offer, parsed)
	if err != nil {
		sub.close()
		return nil, "", err
	}
	if err := room.addSubscriber(sub); err != nil {
		sub.close()
		return nil, "", err
	}
	for _, d := range sub.downs {
		go d.readRTCP()
	}
	if t := s.cfg.ConnectTimeout; t > 0 {
		deadline := time.AfterFunc(t, func() {
			if !sub.connected.done() {
				s.metrics.NeverConnected.Inc()
				s.log.Debug("viewer never connected", "viewer", sub.ID(), "within", t)
				sub.Close()
			}
		})
		sub.OnClose(func() { deadline.Stop() })
	}
	s.metrics.Subscribers.Inc()
	return sub, answer, nil
}

// List returns the rooms on this node.
func (s *SFU) List() []*Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		out = append(out, r)
	}
	return out
}

// Viewers counts the viewer connections of every room, connected or coming up.
func (s *SFU) Viewers() int {
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	n := 0
	for _, r := range rooms {
		n += r.Subscribers()
	}
	return n
}

// Draining reports whether Drain was called.
func (s *SFU) Draining() bool { return s.draining.Load() }

// Rooms counts the live rooms on this node.
func (s *SFU) Rooms() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rooms)
}

// PortRange is a range of ports, Min to Max inclusive.
type PortRange struct{ Min, Max uint16 }

// IsZero reports whether the range is unset: any port.
func (r PortRange) IsZero() bool { return r.Min == 0 && r.Max == 0 }

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Min, r.Max) }

// firstSTUNTimeout is how long an ICE-TCP connection may take to send its first STUN
// request before it is dropped.
const firstSTUNTimeout = 5 * time.Second
