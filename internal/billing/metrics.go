package billing

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the money plane's Prometheus collectors, per service (never global).
type Metrics struct {
	Webhooks             *prometheus.CounterVec // by result
	RevocationsDelivered prometheus.Counter
	RevocationRetries    prometheus.Counter
	// StripeFailures counts calls to Stripe that failed, by operation and reason
	// (timeout, unavailable: network or 5xx or 429, request: Stripe refused it).
	StripeFailures *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg when reg is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livegate_webhooks_total",
			Help: "Payment events (Stripe webhooks, development checkout payments) by result: applied, duplicate, rejected (signature), failed."},
			[]string{"result"}),
		RevocationsDelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_revocations_delivered_total", Help: "Revocations the outbox delivered to every node."}),
		RevocationRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_revocation_delivery_failures_total", Help: "Outbox deliveries that failed and will be retried."}),
		StripeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livegate_stripe_failures_total", Help: "Calls to the Stripe API that failed, by operation and reason (timeout, unavailable, request)."},
			[]string{"op", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.Webhooks, m.RevocationsDelivered, m.RevocationRetries, m.StripeFailures)
	}
	return m
}
