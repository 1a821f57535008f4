// Package netsim puts a weak network between a WebRTC client and livegate on loopback: a
// UDP relay that the client is pointed at instead of the node, which forwards each way
// and can drop chosen packets or cap the bandwidth towards the client, as a mobile link
// would. Tests and livegate-load use it; it only ever binds and sends to loopback.
package netsim

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Relay forwards one client's UDP to one server address and back.
type Relay struct {
	front    *net.UDPConn // what the client sends to
	back     *net.UDPConn // what the server sees as the client
	server   *net.UDPAddr
	client   atomic.Pointer[net.UDPAddr]
	dropDown atomic.Pointer[func([]byte) bool]

	mu       sync.Mutex
	rate     int64 // bits per second towards the client; 0: unlimited
	queue    [][]byte
	queued   int // bytes in queue
	maxQueue int
	wake     chan struct{}

	droppedDown atomic.Int64
	wg          sync.WaitGroup
	closed      chan struct{}
}

// NewRelay relays to server, a loopback address.
func NewRelay(server netip.AddrPort) (*Relay, error) {
	if !server.Addr().IsLoopback() {
		return nil, fmt.Errorf("netsim: %s is not loopback", server)
	}
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	front, err := net.ListenUDP("udp4", lo)
	if err != nil {
		return nil, err
	}
	back, err := net.ListenUDP("udp4", lo)
	if err != nil {
		front.Close()
		return nil, err
	}
	r := &Relay{front: front, back: back, server: net.UDPAddrFromAddrPort(server), wake: make(chan struct{}, 1),
		maxQueue: 64 << 10, closed: make(chan struct{})}
	r.wg.Add(3)
	go r.up()
	go r.down()
	go r.pace()
	return r, nil
}

// Addr is where the client must send.
func (r *Relay) Addr() netip.AddrPort { return r.front.LocalAddr().(*net.UDPAddr).AddrPort() }

// DropDown sets a filter over packets towards the client; true drops one.
func (r *Relay) DropDown(f func(pkt []byte) bool) { r.dropDown.Store(&f) }

// DroppedDown counts packets towards the client that were dropped (filter or full queue).
func (r *Relay) DroppedDown() int64 { return r.droppedDown.Load() }

// SetRate caps the bandwidth towards the client to bps bits per second (0: no cap),
// with a queue of about 150 ms at that rate (at least 8 KiB) that drops from its tail
// when full, as a mobile link's buffer does.
func (r *Relay) SetRate(bps int64) {
	r.mu.Lock()
	r.rate = bps
	r.maxQueue = max(int(bps/8*150/1000), 8<<10)
	if bps == 0 {
		r.maxQueue = 64 << 10
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Close stops relaying.
func (r *Relay) Close() error {
	close(r.closed)
	err := errors.Join(r.front.Close(), r.back.Close())
	r.wg.Wait()
	return err
}

func (r *Relay) up() {
	defer r.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := r.front.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if !from.IP.IsLoopback() {
			continue
		}
		r.client.Store(from)
		_, _ = r.back.WriteToUDP(buf[:n], r.server)
	}
}

func (r *Relay) down() {
	defer r.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, _, err := r.back.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if f := r.dropDown.Load(); f != nil && (*f)(buf[:n]) {
			r.droppedDown.Add(1)
			continue
		}
		pkt := append([]byte(nil), buf[:n]...)
		r.mu.Lock()
		if r.queued+len(pkt) > r.maxQueue {
			r.mu.Unlock()
			r.droppedDown.Add(1)
			continue
		}
		r.queue = append(r.queue, pkt)
		r.queued += len(pkt)
		r.mu.Unlock()
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// pace sends the queue towards the client no faster than the rate.
func (r *Relay) pace() {
	defer r.wg.Done()
	var next time.Time // when the link is free again
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.mu.Unlock()
			select {
			case <-r.wake:
				continue
			case <-r.closed:
				return
			}
		}
		pkt := r.queue[0]
		r.queue = r.queue[1:]
		r.queued -= len(pkt)
		rate := r.rate
		r.mu.Unlock()
		if rate > 0 {
			now := time.Now()
			if next.Before(now) {
				next = now
			}
			if wait := time.Until(next); wait > 0 {
				select {
				case <-time.After(wait):
				case <-r.closed:
					return
				}
			}
			next = next.Add(time.Duration(int64(len(pkt)) * 8 * int64(time.Second) / rate))
		}
		if c := r.client.Load(); c != nil {
			_, _ = r.front.WriteToUDP(pkt, c)
		}
	}
}

var candidateLine = regexp.MustCompile(`(?m)^a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host[^\r\n]*\r?\n`)

// PointAnswer rewrites an SDP answer so the client's only candidate for the server is
// the relay: the server's UDP candidate on 127.0.0.1 is kept with the relay's port,
// every other candidate is dropped.
func PointAnswer(answer string, relay netip.AddrPort) string {
	kept := false
	out := candidateLine.ReplaceAllStringFunc(answer, func(line string) string {
		m := candidateLine.FindStringSubmatch(line)
		if m[1] != "127.0.0.1" || kept {
			return ""
		}
		kept = true
		return strings.Replace(line, " "+m[1]+" "+m[2]+" ", " 127.0.0.1 "+strconv.Itoa(int(relay.Port()))+" ", 1)
	})
	// TCP and other candidates the pattern above does not cover.
	var b strings.Builder
	for _, line := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(line, "a=candidate:") && !strings.Contains(line, " 127.0.0.1 "+strconv.Itoa(int(relay.Port()))+" ") {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// IsDTLS says whether a datagram is DTLS (RFC 7983's demultiplexing: first byte 20–63).
func IsDTLS(pkt []byte) bool { return len(pkt) > 0 && pkt[0] >= 20 && pkt[0] <= 63 }
