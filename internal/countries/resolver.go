package countries

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/oschwald/geoip2-golang"
)

// ResolverConfig says where a viewer's country comes from.
type ResolverConfig struct {
	// GeoIPDB is a MaxMind GeoIP2/GeoLite2 Country (or City) mmdb file.
	GeoIPDB string
	// Header (e.g. CF-IPCountry) is believed only on requests from TrustedProxies, as is
	// X-Forwarded-For.
	Header         string
	TrustedProxies []netip.Prefix
	// Default is the country when nothing else tells; "" means unknown.
	Default string
}

// Resolver finds the country of a request.
type Resolver struct {
	cfg ResolverConfig
	db  *geoip2.Reader
}

// NewResolver opens the mmdb, if any.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	r := &Resolver{cfg: cfg}
	if cfg.GeoIPDB != "" {
		db, err := geoip2.Open(cfg.GeoIPDB)
		if err != nil {
			return nil, fmt.Errorf("open geoip db: %w", err)
		}
		r.db = db
	}
	if cfg.Default != "" && !ValidCode(cfg.Default) {
		return nil, fmt.Errorf("default country %q is not an ISO 3166-1 alpha-2 code", cfg.Default)
	}
	return r, nil
}

// Close releases the mmdb.
func (r *Resolver) Close() error {
	if r.db != nil {
		return r.db.Close()
	}
	return nil
}

// ParsePrefixes reads a list of CIDRs or single addresses.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (r *Resolver) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP is the viewer's address: the peer, or, when the peer is a trusted proxy, the
// nearest untrusted address in X-Forwarded-For.
func (r *Resolver) ClientIP(req *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !r.trusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(req.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !r.trusted(a) {
			return a
		}
		peer = a
	}
	return peer
}

// Country returns the viewer's ISO 3166-1 alpha-2 country, or "" when unknown.
func (r *Resolver) Country(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	if peer, err := netip.ParseAddr(host); err == nil && r.cfg.Header != "" && r.trusted(peer) {
		if c := strings.ToUpper(strings.TrimSpace(req.Header.Get(r.cfg.Header))); ValidCode(c) {
			return c
		}
	}
	if r.db != nil {
		if ip := r.ClientIP(req); ip.IsValid() {
			if rec, err := r.db.Country(net.IP(ip.AsSlice())); err == nil && ValidCode(rec.Country.IsoCode) {
				return rec.Country.IsoCode
			}
		}
	}
	return r.cfg.Default
}
