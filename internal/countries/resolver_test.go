package countries_test

import (
	"net/http/httptest"
	"testing"

	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/testenv"
)

func TestResolver(t *testing.T) {
	proxies, err := countries.ParsePrefixes([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := countries.NewResolver(countries.ResolverConfig{GeoIPDB: testenv.CountryMMDB(t), Header: "CF-IPCountry", TrustedProxies: proxies, Default: "US"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cases := []struct {
		name, remote, xff, header, want string
	}{
		{"direct from Morocco", "198.51.100.7:5000", "", "", "MA"},
		{"direct from South Africa", "198.51.100.70:5000", "", "", "ZA"},
		{"direct from Egypt", "198.51.100.130:5000", "", "", "EG"},
		{"direct from France", "203.0.113.9:5000", "", "", "FR"},
		{"IPv6 Morocco", "[2001:db8:1::5]:5000", "", "", "MA"},
		{"unknown address falls back", "192.0.2.1:5000", "", "", "US"},
		{"untrusted peer's header is ignored", "198.51.100.7:5000", "", "FR", "MA"},
		{"untrusted peer's XFF is ignored", "198.51.100.70:5000", "198.51.100.7", "", "ZA"},
		{"trusted proxy's header wins", "10.1.2.3:443", "198.51.100.7", "EG", "EG"},
		{"trusted proxy without header: XFF client", "10.1.2.3:443", "198.51.100.130", "", "EG"},
		{"spoofed XFF before a real hop", "10.1.2.3:443", "203.0.113.9, 198.51.100.70", "", "ZA"},
		{"chain of trusted proxies", "127.0.0.1:443", "198.51.100.7, 10.9.9.9", "", "MA"},
		{"garbage header from proxy", "10.1.2.3:443", "198.51.100.7", "XX", "MA"},
	}
	for _, c := range cases {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.remote
		if c.xff != "" {
			req.Header.Set("X-Forwarded-For", c.xff)
		}
		if c.header != "" {
			req.Header.Set("CF-IPCountry", c.header)
		}
		if got := r.Country(req); got != c.want {
			t.Errorf("%s: Country = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestResolverDefaultOnly(t *testing.T) {
	r, err := countries.NewResolver(countries.ResolverConfig{Default: "MA"})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("CF-IPCountry", "FR")
	if got := r.Country(req); got != "MA" {
		t.Fatalf("Country = %s, want the default", got)
	}
	if _, err := countries.NewResolver(countries.ResolverConfig{Default: "Morocco"}); err == nil {
		t.Fatal("bad default accepted")
	}
	if _, err := countries.NewResolver(countries.ResolverConfig{GeoIPDB: "/nonexistent.mmdb"}); err == nil {
		t.Fatal("missing mmdb accepted")
	}
}
