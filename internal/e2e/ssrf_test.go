package e2e

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/notify"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// Webhooks out never reach the node's own network: loopback, private, link-local,
// CGNAT, metadata and unspecified destinations (and IPv6 forms of them) are refused at
// registration; an endpoint whose name resolves to one later (DNS rebinding, here put
// in the store as it is) is refused on the address each delivery dials, and the
// deliveries list tells nothing of which internal ports are open.
func TestWebhooksOutRefuseInternalDestinations(t *testing.T) {
	n := startMoneyNode(t, func(c *config.Config) { c.WebhookAllowNetworks = nil })
	n.launchCountries()
	for _, u := range []string{"https://127.0.0.1:9443/hook", "http://10.0.0.1/hook", "http://172.16.5.5/", "http://192.168.1.10/",
		"http://169.254.169.254/latest/meta-data/", "http://[::1]:8080/", "http://localhost:8080/hook", "http://100.64.0.1/",
		"http://0.0.0.0:80/", "http://[::]/", "http://[::ffff:127.0.0.1]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[fd00:ec2::254]/",
		"http://[fe80::1]/", "http://2130706433/", "http://127.1/"} {
		r := n.raw("POST", "/v1/admin/webhooks/endpoints", "application/json", mustJSON(map[string]any{"url": u}), n.operator())
		if r.status != 422 || r.problem.Field != "url" {
			t.Errorf("register %s: %d %s, want 422 on url", u, r.status, r.body)
		}
	}

	// An internal service, and a closed port next to it.
	internal, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var reached atomic.Int64
	go func() {
		for {
			c, err := internal.Accept()
			if err != nil {
				return
			}
			reached.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { internal.Close() })
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	_, port, _ := net.SplitHostPort(internal.Addr().String())
	for i, u := range []string{"http://localhost:" + port + "/hook", "http://" + closedAddr + "/hook"} {
		if err := n.Store.CreateWebhookEndpoint(t.Context(), store.WebhookEndpoint{ID: "we_rebound_" + string(rune('a'+i)), URL: u, Secret: "lgwhsec_x",
			EventTypes: []string{notify.EntitlementGranted}, Enabled: true, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	n.buyer("viewer-amina", testenv.IPMorocco).buyTicket(s.ID)

	var list struct {
		Deliveries []struct {
			EndpointURL string `json:"endpoint_url"`
			Attempts    int
			LastError   string `json:"last_error"`
		}
	}
	_ = poll.Wait(10*time.Second, func() error { // what was tried is checked below
		n.call("GET", "/v1/admin/webhooks/deliveries", nil, &list)
		tried := 0
		for _, d := range list.Deliveries {
			if d.Attempts > 0 {
				tried++
			}
		}
		return poll.Want(tried == 2, "%d tried", tried)
	})
	if len(list.Deliveries) != 2 {
		t.Fatalf("deliveries: %+v", list.Deliveries)
	}
	for _, d := range list.Deliveries {
		if d.Attempts == 0 || !strings.HasPrefix(d.LastError, "destination not allowed") || strings.Contains(d.LastError, "refused") ||
			strings.Contains(d.LastError, port) {
			t.Errorf("delivery to %s: %d attempts, last error %q; want refused before connecting, the same for an open and a closed port",
				d.EndpointURL, d.Attempts, d.LastError)
		}
	}
	if got := reached.Load(); got != 0 {
		t.Errorf("the internal service was connected to %d times", got)
	}
}
