package sfu

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the SFU's Prometheus collectors. They are created per SFU, never global, so
// tests can run many SFUs in one process.
type Metrics struct {
	Publishers       prometheus.Gauge
	Subscribers      prometheus.Gauge
	PacketsForwarded prometheus.Counter
	BytesForwarded   prometheus.Counter
	NACKsReceived    prometheus.Counter
	Retransmits      prometheus.Counter
	PLIsSent         prometheus.Counter
	LayerSwitches    prometheus.Counter
	PacerDrops       prometheus.Counter
	NeverConnected   prometheus.Counter
	ViewerEstimate   prometheus.Histogram
	JoinLatency      prometheus.Histogram
	ViewerLoss       prometheus.Histogram
	// STUNHeldBack counts connectivity checks not sent to an address the node never
	// heard from, over its budget (stunguard.go).
	STUNHeldBack prometheus.Counter
	// Shed counts viewers moved down a shed level by the node's load; ViewersShed is
	// how many are held below full video now (shed.go).
	Shed        prometheus.Counter
	ViewersShed prometheus.Gauge
	// RepairsHeld counts NACKed packets not resent: asked again within a round trip,
	// resent too often already, too old to be played (downtrack.go), resent already and
	// acknowledged by the viewer's feedback (deliveries.go), or past repairs' share of
	// the viewer's bandwidth (bwe.go).
	RepairsHeld prometheus.Counter
	// Probes counts padding probes started for viewers, ProbesFailed those the
	// viewer's link could not carry (probe.go).
	Probes, ProbesFailed prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg when reg is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Publishers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livegate_publishers", Help: "Publishers connected to this node."}),
		Subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livegate_subscribers", Help: "Viewers connected to this node."}),
		PacketsForwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_packets_forwarded_total", Help: "RTP packets sent to viewers, retransmissions excluded."}),
		BytesForwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_bytes_forwarded_total", Help: "RTP payload bytes sent to viewers."}),
		NACKsReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_nacks_received_total", Help: "Packets viewers reported lost (NACK entries)."}),
		Retransmits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_retransmits_total", Help: "Packets resent to viewers from the packet cache."}),
		PLIsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_plis_sent_total", Help: "Keyframe requests sent to publishers."}),
		LayerSwitches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_layer_switches_total", Help: "Simulcast layer switches completed for viewers (on the target layer's keyframe)."}),
		NeverConnected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_viewers_never_connected_total", Help: "Viewer connections closed because ICE and DTLS were not up within the connect timeout."}),
		PacerDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_pacer_drops_total", Help: "Packets dropped because a viewer's pacing queue held a second of media."}),
		ViewerEstimate: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "livegate_viewer_estimate_bps", Help: "Viewers' send-side bandwidth estimates, sampled by the layer allocator.",
			Buckets: prometheus.ExponentialBuckets(50_000, 2, 10)}),
		JoinLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "livegate_join_latency_seconds", Help: "From a viewer's WHEP POST to its first media packet sent.",
			Buckets: []float64{.025, .05, .1, .2, .35, .5, .75, 1, 1.5, 2, 3, 5}}),
		ViewerLoss: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "livegate_viewer_reported_loss_ratio", Help: "Fraction lost in viewers' RTCP receiver reports, before NACK repair.",
			Buckets: []float64{0, .001, .005, .01, .02, .05, .1, .2, .5}}),
		STUNHeldBack: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_stun_requests_held_total", Help: "ICE connectivity checks not sent to an address that never answered, over its budget."}),
		Shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_viewers_shed_total", Help: "Viewers moved to a lower layer or to audio only because the node's CPU was saturated."}),
		ViewersShed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livegate_viewers_shed", Help: "Viewers held below their video by the node's load now."}),
		RepairsHeld: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_repairs_held_total", Help: "NACKed packets not resent: asked again within a round trip, resent three times already, over a second old, resent already and acknowledged by the viewer's transport-wide feedback, or past repairs' share (half) of the viewer's estimate."}),
		Probes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_probes_total", Help: "Padding probes started to see whether a viewer's link carries the next simulcast layer."}),
		ProbesFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livegate_probes_failed_total", Help: "Padding probes stopped because the viewer's link congested."}),
	}
	if reg != nil {
		reg.MustRegister(m.STUNHeldBack, m.Shed, m.ViewersShed, m.RepairsHeld, m.Probes, m.ProbesFailed)
		reg.MustRegister(m.Publishers, m.Subscribers, m.PacketsForwarded, m.BytesForwarded,
			m.NACKsReceived, m.Retransmits, m.PLIsSent, m.LayerSwitches, m.PacerDrops, m.NeverConnected, m.ViewerEstimate, m.JoinLatency, m.ViewerLoss)
	}
	return m
}
