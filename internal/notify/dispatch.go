package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livegate/livegate/internal/netpolicy"
	"github.com/livegate/livegate/internal/store"
)

// DispatchConfig tunes a Dispatcher; zero values take the defaults.
type DispatchConfig struct {
	// Poll is how often the outbox is read for due deliveries (default 500ms).
	Poll time.Duration
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// Backoff is the wait after the first failure, doubling per failure up to MaxBackoff
	// (defaults 1s and 1h), with ±20% jitter so endpoints coming back are not stampeded.
	Backoff, MaxBackoff time.Duration
	// MaxAttempts is when a delivery is given up as failed (default 16: about 10 hours of
	// retries); an operator can replay it.
	MaxAttempts int
	// Concurrency is how many attempts run at once on this node (default 4).
	Concurrency int
	// AllowNetworks are the operator's own networks deliveries may go to besides the
	// public internet (--webhook-allow-networks): loopback, private, link-local and
	// metadata addresses are refused otherwise, on the address each attempt dials.
	AllowNetworks []netip.Prefix
	Client        *http.Client
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
}

// Dispatcher sends due deliveries. Every node runs one; a delivery is claimed before it
// is sent, so two nodes do not send it at once.
type Dispatcher struct {
	st      store.Webhooks
	cfg     DispatchConfig
	log     *slog.Logger
	results *prometheus.CounterVec
	wake    chan struct{}
}

// NewDispatcher returns a dispatcher over st.
func NewDispatcher(st store.Webhooks, cfg DispatchConfig) *Dispatcher {
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Hour
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 16
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			// No proxy from the environment (it would dial for us, unchecked); every
			// connection's address is checked as it is dialed.
			Transport: &http.Transport{Proxy: nil, DialContext: netpolicy.Dialer(cfg.AllowNetworks).DialContext,
				TLSHandshakeTimeout: 10 * time.Second, MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second},
			// A redirect is not a delivery: the endpoint must answer 2xx itself.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	d := &Dispatcher{st: st, cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livegate_webhook_attempts_total",
			Help: "Webhook deliveries to the platform's endpoints by result: delivered, retry (failed, will retry), failed (gave up)."},
			[]string{"result"})}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(d.results)
	}
	return d
}

// Wake makes the dispatcher look for due deliveries now (an event was just recorded).
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run sends due deliveries until ctx ends; attempts in flight finish first.
func (d *Dispatcher) Run(ctx context.Context) {
	tick := time.NewTicker(d.cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-d.wake:
		}
		d.sendDue(ctx)
	}
}

func (d *Dispatcher) sendDue(ctx context.Context) {
	now := time.Now()
	due, err := d.st.DueDeliveries(ctx, now, 64)
	if err != nil || len(due) == 0 {
		if err != nil && ctx.Err() == nil {
			d.log.Warn("read webhook outbox", "err", err)
		}
		return
	}
	eps, err := d.st.WebhookEndpoints(ctx)
	if err != nil {
		d.log.Warn("read webhook endpoints", "err", err)
		return
	}
	byID := map[string]store.WebhookEndpoint{}
	for _, e := range eps {
		byID[e.ID] = e
	}
	sem := make(chan struct{}, d.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, w := range due {
		ep, ok := byID[w.EndpointID]
		if !ok {
			continue // deleted: its deliveries were closed with it
		}
		// The lease outlasts the attempt: another node may take it over only after this
		// one has surely given up.
		claimed, err := d.st.ClaimDelivery(ctx, w.ID, now, now.Add(d.cfg.Timeout+5*time.Second))
		if err != nil || !claimed {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d.attempt(ctx, w, ep)
		}()
	}
	wg.Wait()
}

// attempt sends one delivery and saves what came of it.
func (d *Dispatcher) attempt(ctx context.Context, w store.WebhookDelivery, ep store.WebhookEndpoint) {
	ev, err := d.st.OutboundEvent(ctx, w.EventID)
	if err != nil {
		d.log.Warn("read webhook event", "event", w.EventID, "err", err)
		return // the lease runs out and it is tried again
	}
	status, sendErr := d.send(ctx, ep, w, ev)
	w.Attempts++
	w.LastStatus = status
	now := time.Now()
	switch {
	case sendErr == nil:
		w.State, w.LastError, w.DeliveredAt, w.NextAttemptAt = store.DeliveryDelivered, "", now, now
		d.results.WithLabelValues("delivered").Inc()
	case w.Attempts >= d.cfg.MaxAttempts:
		w.State, w.LastError, w.NextAttemptAt = store.DeliveryFailed, shown(sendErr), now
		d.results.WithLabelValues("failed").Inc()
		d.log.Warn("webhook delivery given up", "delivery", w.ID, "event", ev.Type, "endpoint", ep.ID, "attempts", w.Attempts, "err", sendErr)
	default:
		w.LastError, w.NextAttemptAt = shown(sendErr), now.Add(d.backoff(w.Attempts))
		d.results.WithLabelValues("retry").Inc()
		d.log.Info("webhook delivery failed; will retry", "delivery", w.ID, "event", ev.Type, "endpoint", ep.ID,
			"attempts", w.Attempts, "next", w.NextAttemptAt, "err", sendErr)
	}
	// Saved even when the node is stopping: an attempt that reached the endpoint is one.
	if err := d.st.FinishAttempt(context.WithoutCancel(ctx), w); err != nil {
		d.log.Warn("save webhook attempt", "delivery", w.ID, "err", err)
	}
}

func (d *Dispatcher) backoff(failures int) time.Duration {
	b := d.cfg.Backoff
	for i := 1; i < failures && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	return time.Duration(float64(b) * (0.8 + 0.4*rand.Float64())) //nolint:gosec // G404: jitter spreads retries, it guards nothing
}

func (d *Dispatcher) send(ctx context.Context, ep store.WebhookEndpoint, w store.WebhookDelivery, ev store.OutboundEvent) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(ev.Payload))
	if err != nil {
		return 0, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "livegate-webhooks/1")
	req.Header.Set(SignatureHeader, Sign(ep.Secret, time.Now(), ev.Payload))
	req.Header.Set("Livegate-Event-Id", ev.ID)
	req.Header.Set("Livegate-Event-Type", ev.Type)
	req.Header.Set("Livegate-Delivery-Id", w.ID)
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, &statusError{resp.StatusCode}
	}
	return resp.StatusCode, nil
}

type statusError struct{ status int }

func (e *statusError) Error() string { return fmt.Sprintf("endpoint answered %d", e.status) }

// shown is what the deliveries list says of a failed attempt: its kind, never the
// network's own words (which ports refused, which hosts exist), nor the body the
// endpoint answered. The full error goes to the node's log.
func shown(err error) string {
	var se *statusError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return se.Error()
	case errors.Is(err, netpolicy.ErrNotAllowed):
		return "destination not allowed: a loopback, private, link-local or reserved address"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.As(err, new(*tls.CertificateVerificationError)) || strings.Contains(err.Error(), "tls:"):
		return "TLS handshake failed"
	case errors.As(err, new(*net.DNSError)):
		return "the host does not resolve"
	}
	return "could not connect"
}

// CheckDestination says whether an endpoint URL may be registered: every address its
// host resolves to must be public or inside nets. It is checked again on each
// delivery's dialed address, so a name that later resolves elsewhere gets nothing.
func CheckDestination(ctx context.Context, u *url.URL, nets []netip.Prefix) error {
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if !netpolicy.Allowed(a, nets) {
			return netpolicy.ErrNotAllowed
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("the host %q does not resolve", host)
	}
	for _, a := range addrs {
		if !netpolicy.Allowed(a, nets) {
			return netpolicy.ErrNotAllowed
		}
	}
	return nil
}
