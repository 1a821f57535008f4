// Package netns gives tests a real network path: a network namespace joined to this
// machine by a veth pair of its own, whose link can be shaped with tc's token bucket
// filter (rate, burst and queue latency, as a weak mobile or DSL link), made lossy with
// nftables (this kernel has no netem) or made to drop UDP, as many office and mobile
// networks do. A client run in the namespace crosses a real kernel queue, unlike a
// relay in the test process. A whole node can run there too (Command), reaching the
// tests' Redis and PostgreSQL on this machine's loopback through Expose, so that the
// link lies between two nodes.
//
// Everything is created under names and addresses of the test's own (a private /30
// per link) and removed when the test ends. Building one needs root; without it a test
// is skipped, and says so.
package netns

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Link is a namespace and the veth pair joining it to the host.
type Link struct {
	NS       string     // the namespace's name
	HostIf   string     // the host's end of the veth
	PeerIf   string     // the namespace's end
	HostAddr netip.Addr // the host's address on the link (a server there is reachable from the namespace)
	PeerAddr netip.Addr // the namespace's address
	Prefix   netip.Prefix
}

// Unavailable is how New stops a test that cannot run here (testservices.SkipHere and
// testservices.Missing): NotRoot for what no install fixes, Missing for a tool that an
// install would bring (a failure where tests must not skip).
type Unavailable struct {
	NotRoot func(t testing.TB, why string)
	Missing func(t testing.TB, what string, err error)
}

// New makes a namespace and its link, both up, and removes them when t ends.
func New(t testing.TB, u Unavailable) *Link {
	t.Helper()
	if os.Geteuid() != 0 {
		u.NotRoot(t, "root (to create a network namespace and a veth pair)")
		return nil
	}
	for _, tool := range []string{"ip", "tc", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			u.Missing(t, tool+" (iproute2, nftables)", err)
			return nil
		}
	}
	// Names and addresses only need to differ between tests running at once.
	suffix := fmt.Sprintf("%05x", rand.Uint32()&0xfffff) //nolint:gosec // G404: a name, not a secret
	// 10.(200-249).x.y/30: far from the usual home, office and cloud ranges.
	base := netip.AddrFrom4([4]byte{10, byte(200 + rand.IntN(50)), byte(rand.IntN(256)), byte(rand.IntN(64) * 4)}) //nolint:gosec // G404: an address, not a secret
	l := &Link{NS: "lgn" + suffix, HostIf: "lgh" + suffix, PeerIf: "lgp" + suffix, Prefix: netip.PrefixFrom(base, 30)}
	l.HostAddr, l.PeerAddr = base.Next(), base.Next().Next()

	l.ip(t, "netns", "add", l.NS)
	t.Cleanup(func() { _ = command(context.Background(), "ip", "netns", "del", l.NS).Run() })
	l.ip(t, "link", "add", l.HostIf, "type", "veth", "peer", "name", l.PeerIf, "netns", l.NS)
	t.Cleanup(func() { _ = command(context.Background(), "ip", "link", "del", l.HostIf).Run() })
	l.ip(t, "addr", "add", l.HostAddr.String()+"/30", "dev", l.HostIf)
	l.ip(t, "-n", l.NS, "addr", "add", l.PeerAddr.String()+"/30", "dev", l.PeerIf)
	l.ip(t, "link", "set", l.HostIf, "up")
	l.ip(t, "-n", l.NS, "link", "set", l.PeerIf, "up")
	l.ip(t, "-n", l.NS, "link", "set", "lo", "up")
	return l
}

// command runs one of the tools the link is built with (ip, tc, nft), on arguments this
// package made: the namespace and interface names and addresses are its own.
func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, name, args...) //nolint:gosec // G204: see above
}

func (l *Link) ip(t testing.TB, args ...string) {
	t.Helper()
	if out, err := command(t.Context(), "ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// ShapeDown puts a token bucket on the link towards the namespace, as
// `tc qdisc replace ... tbf rate RATE burst BURST latency LATENCY` (e.g. "700kbit",
// "16kbit", "250ms"): what a viewer there receives is limited as on a slow link, with
// a queue that fills and drops at its tail. Calling it again changes the link.
func (l *Link) ShapeDown(t testing.TB, rate, burst, latency string) {
	t.Helper()
	l.tc(t, "qdisc", "replace", "dev", l.HostIf, "root", "tbf", "rate", rate, "burst", burst, "latency", latency)
}

// Unshape takes the token bucket off again.
func (l *Link) Unshape(t testing.TB) {
	t.Helper()
	l.tc(t, "qdisc", "del", "dev", l.HostIf, "root")
}

func (l *Link) tc(t testing.TB, args ...string) {
	t.Helper()
	if out, err := command(t.Context(), "tc", args...).CombinedOutput(); err != nil {
		t.Fatalf("tc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// LoseDown drops percent of the packets arriving in the namespace over the link, at
// random (nftables' numgen); the namespace's own loopback is spared. Calling it again
// replaces the rate; 0 loses none.
func (l *Link) LoseDown(t testing.TB, percent int) {
	t.Helper()
	l.nftChain(t, "lossdown", "input", fmt.Sprintf("iifname %q numgen random mod 100 < %d drop", l.PeerIf, percent), percent > 0)
}

// LoseUp drops percent of the packets the namespace sends over the link, at random.
func (l *Link) LoseUp(t testing.TB, percent int) {
	t.Helper()
	l.nftChain(t, "lossup", "output", fmt.Sprintf("oifname %q numgen random mod 100 < %d drop", l.PeerIf, percent), percent > 0)
}

// BlockUDP drops every UDP datagram into and out of the namespace, as a firewall that
// lets only TCP through.
func (l *Link) BlockUDP(t testing.TB) {
	t.Helper()
	l.nftChain(t, "udpout", "output", "meta l4proto udp drop", true)
	l.nftChain(t, "udpin", "input", "meta l4proto udp drop", true)
}

// nftChain (re)defines one chain of the namespace's own table, with rule, or flushes
// it when on is false. The table lives in the namespace: deleting the namespace
// removes it.
func (l *Link) nftChain(t testing.TB, chain, hook, rule string, on bool) {
	t.Helper()
	script := fmt.Sprintf("table inet livegate_test {\n chain %s { type filter hook %s priority 0; policy accept; }\n}\nflush chain inet livegate_test %s\n", chain, hook, chain)
	if on {
		script += fmt.Sprintf("add rule inet livegate_test %s %s\n", chain, rule)
	}
	cmd := command(t.Context(), "ip", "netns", "exec", l.NS, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v\n%s\n%s", l.NS, err, script, out)
	}
}

// Command runs name in the namespace (ip netns exec).
func (l *Link) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return command(ctx, "ip", append([]string{"netns", "exec", l.NS, name}, args...)...)
}
