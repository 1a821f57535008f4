package e2e

import (
	"strings"
	"testing"
	"time"
)

// Pages run only their own scripts (by hash, no 'unsafe-inline'), the studio and the
// console cannot be framed, and no page sends a Referer; a Stripe webhook signed for an
// hour from now is refused.
func TestPagesAndWebhooksHoldAtTheEdges(t *testing.T) {
	n := startMoneyNode(t, nil)
	s := n.newStream()
	for _, page := range []struct {
		path   string
		framed bool
	}{{"/studio", false}, {"/admin", false}, {"/watch/" + s.ID, true}, {"/", true}} {
		r := n.raw("GET", page.path, "", "", map[string]string{"Accept": "text/html"}) // "/": the catalog page
		csp := r.header.Get("Content-Security-Policy")
		script := ""
		for _, d := range strings.Split(csp, ";") {
			if d = strings.TrimSpace(d); strings.HasPrefix(d, "script-src") {
				script = d
			}
		}
		if r.status != 200 || script == "" || strings.Contains(script, "unsafe-inline") || !strings.Contains(script, "'sha256-") {
			t.Errorf("%s: %d, script-src %q, want this node and the page's own scripts by hash", page.path, r.status, script)
		}
		if framedNever := strings.Contains(csp, "frame-ancestors 'none'"); framedNever == page.framed {
			t.Errorf("%s: CSP %q, frame-ancestors 'none' %v, want %v", page.path, csp, framedNever, !page.framed)
		}
		if got := r.header.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q", page.path, got)
		}
	}
	co := map[string]any{"id": "cs_future", "object": "checkout.session", "metadata": map[string]string{"livegate_checkout": "co_x"}}
	expectProblem(t, "a webhook signed an hour ahead", n.sendEvent("evt_future", "checkout.session.completed", co, time.Now().Add(time.Hour), webhookSecret),
		400, "bad-signature")
	expectProblem(t, "a webhook signed an hour ago", n.sendEvent("evt_past", "checkout.session.completed", co, time.Now().Add(-time.Hour), webhookSecret),
		400, "bad-signature")
}
