package sfu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
)

// udpMux is the node's one UDP port, on every usable address of the interfaces it may
// use. Unlike ice.NewMultiUDPMuxFromPort it does not give up when one address cannot be
// bound: an interface just brought up holds its IPv6 addresses "tentative" (duplicate
// address detection) for a second or two, and a node must still start. Such an address
// is skipped with a warning and bound once it becomes usable; IPv6 and IPv4 link-local
// addresses are left out altogether, since a candidate on one is useless without the
// scope a remote peer cannot know.
type udpMux struct {
	port    int
	bufSize int
	guard   *stunGuard // every address's socket shares it: a budget is per remote address
	fanOuts *fanOuts   // batches every socket's sends while a fan-out runs
	logger  logging.LeveledLogger
	log     *slog.Logger

	mu      sync.RWMutex
	muxes   map[string]*ice.UDPMuxDefault // by listen address
	pending []netip.Addr                  // addresses to bind when they become usable
	closed  bool

	stop context.CancelFunc
	done chan struct{}
}

var _ ice.UDPMux = (*udpMux)(nil)

// muxRetry is how often an address that could not be bound is tried again.
const muxRetry = time.Second

// newUDPMux binds port on every address of the interfaces keep allows (loopback ones when
// loopback), skipping and retrying the ones that cannot be bound yet. It fails only when
// no address at all could be bound and none is pending.
func newUDPMux(port int, keep func(iface string) bool, loopback bool, bufSize int, guard *stunGuard,
	logger logging.LeveledLogger, log *slog.Logger) (*udpMux, error) {
	addrs, err := muxAddresses(keep, loopback)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &udpMux{port: port, bufSize: bufSize, guard: guard, fanOuts: &fanOuts{}, logger: logger, log: log, muxes: map[string]*ice.UDPMuxDefault{},
		stop: cancel, done: make(chan struct{})}
	var firstErr error
	for _, a := range addrs {
		if err := m.bind(a); err != nil {
			if !retryable(err) {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			log.Warn("address not usable yet; will bind it when it is", "addr", a, "err", err)
			m.pending = append(m.pending, a)
		}
	}
	if len(m.muxes) == 0 && len(m.pending) == 0 {
		cancel()
		if firstErr == nil {
			firstErr = errors.New("no usable address on the allowed interfaces")
			if !loopback {
				// A laptop offline or a container with only lo: the one thing to say.
				firstErr = errors.New("no usable address on the allowed interfaces (loopback ones are left out: " +
					"--include-loopback uses them, for a node reached from this machine only)")
			}
		}
		return nil, fmt.Errorf("listen udp %d: %w", port, firstErr)
	}
	if firstErr != nil {
		log.Warn("some addresses could not be bound", "err", firstErr)
	}
	log.Info("ICE UDP listening", "addrs", fmt.Sprint(m.GetListenAddresses()))
	if len(m.pending) > 0 {
		go m.retry(ctx)
	} else {
		close(m.done)
	}
	return m, nil
}

// retryable says whether a bind failure may go away by itself: the address is not
// (yet) assigned, as with a tentative IPv6 address.
func retryable(err error) bool {
	return errors.Is(err, syscall.EADDRNOTAVAIL)
}

// muxAddresses lists the unicast addresses ICE may gather on.
func muxAddresses(keep func(string) bool, loopback bool) ([]netip.Addr, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var out []netip.Addr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || !keep(ifc.Name) {
			continue
		}
		if ifc.Flags&net.FlagLoopback != 0 && !loopback {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := p.Addr().Unmap()
			if ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
				continue
			}
			if ip.IsLoopback() && !loopback {
				continue
			}
			out = append(out, ip)
		}
	}
	return out, nil
}

func (m *udpMux) bind(a netip.Addr) error {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(m.port))))
	if err != nil {
		return err
	}
	if m.bufSize > 0 {
		_ = conn.SetReadBuffer(m.bufSize)
		_ = conn.SetWriteBuffer(m.bufSize)
	}
	gc := &guardedConn{UDPConn: conn, guard: m.guard, fanOuts: m.fanOuts, batch: newBatch(conn)}
	m.fanOuts.add(gc)
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{Logger: m.logger, UDPConn: gc})
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		_ = mux.Close()
		return net.ErrClosed
	}
	for _, la := range mux.GetListenAddresses() {
		m.muxes[la.String()] = mux
	}
	return nil
}

// retry binds the pending addresses as they become usable, until all are or the mux
// closes.
func (m *udpMux) retry(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(muxRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		pending := m.pending
		m.pending = nil
		m.mu.Unlock()
		var still []netip.Addr
		for _, a := range pending {
			if err := m.bind(a); err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				still = append(still, a)
				continue
			}
			m.log.Info("address usable now; gathering on it", "addr", netip.AddrPortFrom(a, uint16(m.port)))
		}
		if len(still) == 0 {
			return
		}
		m.mu.Lock()
		m.pending = append(m.pending, still...)
		m.mu.Unlock()
	}
}

// GetConn implements ice.UDPMux.
func (m *udpMux) GetConn(ufrag string, addr net.Addr) (net.PacketConn, error) {
	m.mu.RLock()
	mux, ok := m.muxes[addr.String()]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("no udp mux on %s", addr)
	}
	return mux.GetConn(ufrag, addr)
}

// RemoveConnByUfrag implements ice.UDPMux.
func (m *udpMux) RemoveConnByUfrag(ufrag string) {
	for _, mux := range m.list() {
		mux.RemoveConnByUfrag(ufrag)
	}
}

// GetListenAddresses implements ice.UDPMux: the addresses bound so far.
func (m *udpMux) GetListenAddresses() []net.Addr {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]net.Addr, 0, len(m.muxes))
	for _, mux := range m.muxes {
		out = append(out, mux.GetListenAddresses()...)
	}
	return out
}

func (m *udpMux) list() []*ice.UDPMuxDefault {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*ice.UDPMuxDefault, 0, len(m.muxes))
	for _, mux := range m.muxes {
		out = append(out, mux)
	}
	return out
}

// Close implements ice.UDPMux.
func (m *udpMux) Close() error {
	m.stop()
	<-m.done
	m.mu.Lock()
	m.closed = true
	muxes := m.muxes
	m.muxes = map[string]*ice.UDPMuxDefault{}
	m.mu.Unlock()
	var errs []error
	for _, mux := range muxes {
		errs = append(errs, mux.Close())
	}
	return errors.Join(errs...)
}
