package testenv

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/livegate/livegate/internal/testservices"
	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Viewer addresses by country in the test GeoIP database (documentation ranges).
const (
	IPMorocco     = "198.51.100.7"
	IPSouthAfrica = "198.51.100.70"
	IPEgypt       = "198.51.100.130"
	IPFrance      = "203.0.113.9"
	IPUSA         = "203.0.113.200"
)

// CountryMMDB writes a GeoIP2-Country database mapping the addresses above to MA, ZA,
// EG, FR and US (and 2001:db8:1::/48 to MA), as MaxMind's would, and returns its path.
func CountryMMDB(t testing.TB) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-Country", RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, code := range map[string]string{
		"198.51.100.0/26": "MA", "198.51.100.64/26": "ZA", "198.51.100.128/26": "EG",
		"203.0.113.0/25": "FR", "203.0.113.128/25": "US", "2001:db8:1::/48": "MA",
	} {
		_, n, _ := net.ParseCIDR(cidr)
		if err := w.Insert(n, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(code)}}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "country.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

// StripeMockURL is stripe-mock's base URL (one of the test process's own unless
// LIVEGATE_TEST_STRIPE_MOCK names one).
func StripeMockURL(t testing.TB) string {
	t.Helper()
	return testservices.StripeMockURL(t)
}
