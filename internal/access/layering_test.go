package access_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The media path decides nothing about money: the gate, the WHIP/WHEP handlers and the
// SFU build without Stripe, GeoIP, prices or the billing service, so the relay and edge
// nodes to come carry none of it.
func TestMediaPathHasNoMoneyCode(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not on PATH")
	}
	for _, pkg := range []string{"../access", "../whip", "../sfu"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, banned := range []string{"github.com/stripe/", "geoip2", "/internal/billing", "/internal/countries", "/internal/paywall", "/internal/money"} {
				if strings.Contains(dep, banned) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
