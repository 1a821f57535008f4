package access

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livegate/livegate/internal/sessions"
)

// Metrics are the access plane's Prometheus collectors, per gate (never global).
type Metrics struct {
	Admissions    *prometheus.CounterVec // by outcome
	SessionsCut   prometheus.Counter
	SessionStore  prometheus.Gauge
	PreviewsEnded prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg when reg is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livegate_admissions_total",
			Help: "WHEP joins by outcome: admitted, bad_token, revoked, preview_ended, session_limit, unavailable, error."},
			[]string{"outcome"}),
		SessionsCut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_sessions_cut_total", Help: "Viewer sessions this node ended on a revocation, kick or stream end."}),
		SessionStore: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livegate_session_store_up", Help: "1 while the session store (Redis) answers this node's heartbeat, else 0."}),
		PreviewsEnded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_previews_ended_total", Help: "Free previews that ran out while watching."}),
	}
	m.SessionStore.Set(1)
	if reg != nil {
		reg.MustRegister(m.Admissions, m.SessionsCut, m.SessionStore, m.PreviewsEnded)
	}
	return m
}

// admitted counts one join by what Admit answered.
func (m *Metrics) admitted(err error) {
	outcome := "admitted"
	switch {
	case err == nil:
	case errors.Is(err, ErrBadPlaybackToken):
		outcome = "bad_token"
	case errors.Is(err, ErrRevoked):
		outcome = "revoked"
	case errors.Is(err, ErrPreviewUsed):
		outcome = "preview_ended"
	case errors.Is(err, ErrSessionLimit):
		outcome = "session_limit"
	case errors.Is(err, sessions.ErrUnavailable):
		outcome = "unavailable"
	default:
		outcome = "error"
	}
	m.Admissions.WithLabelValues(outcome).Inc()
}
