package main

// A fleet's view of a run: viewers spread over nodes (--view-on), the publisher on the
// origin. What an operator asks of it: how many copies the origin sends (one per edge,
// not one per viewer), what the relay hop adds to each packet's delay, and what each
// node spends.

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/pion/rtp"

	"github.com/livegate/livegate/internal/mediagen"
	"github.com/livegate/livegate/internal/whipclient"
)

// maxDelaySamples bounds the delays one viewer keeps.
const maxDelaySamples = 4000

// sampleDelay records the one-way delay of a video packet: from when the publisher in
// this process wrote it to now.
func (v *viewerStats) sampleDelay(h *rtp.Header, pkt []byte, mime string, src *mediagen.Source) {
	now := time.Now()
	n, err := h.Unmarshal(pkt)
	if err != nil {
		return
	}
	idx, _, ok := mediagen.Check(mime, pkt[n:])
	if !ok {
		return
	}
	sent, ok := src.SentAt(idx)
	if !ok {
		return
	}
	v.mu.Lock()
	if len(v.delays) < maxDelaySamples {
		v.delays = append(v.delays, float64(now.Sub(sent).Microseconds())/1000)
	}
	v.mu.Unlock()
}

// streamRate is the packets per second the publisher sends (every layer).
func streamRate(videos []*mediagen.Source, audio *mediagen.Source) float64 {
	pps := float64(audio.PacketsPerSecond)
	for _, v := range videos {
		pps += float64(v.PacketsPerSecond)
	}
	return pps
}

// fleetCounters reads each node's CPU seconds and forwarded packets.
func fleetCounters(ctx context.Context, origin string, nodes []string) (cpu, fwd map[string]float64) {
	cpu, fwd = map[string]float64{}, map[string]float64{}
	for _, n := range append([]string{origin}, nodes...) {
		cpu[n], _ = metric(ctx, n, "process_cpu_seconds_total")
		fwd[n], _ = metric(ctx, n, "livegate_packets_forwarded_total")
	}
	return cpu, fwd
}

type fleetRun struct {
	origin     string
	nodes      []string
	stats      []*viewerStats
	sessions   []*whipclient.Session
	elapsed    time.Duration
	streamPPS  float64
	cpu0, fwd0 map[string]float64
}

// fleetReport prints each node's share of the run; its counters are read even after an
// interrupt, to report what was measured.
func fleetReport(ctx context.Context, out io.Writer, r fleetRun) {
	cpu1, fwd1 := fleetCounters(context.WithoutCancel(ctx), r.origin, r.nodes)
	secs := r.elapsed.Seconds()
	fmt.Fprintf(out, "\n== fleet ==\n")
	edges := 0
	for _, n := range r.nodes {
		if n != r.origin {
			edges++
		}
	}
	originFwd := (fwd1[r.origin] - r.fwd0[r.origin]) / secs
	originViewers := 0
	for i, st := range r.stats {
		if st != nil && r.sessions[i] != nil && r.nodes[st.node] == r.origin {
			originViewers++
		}
	}
	fmt.Fprintf(out, "origin %s: forwards %.0f packets/s for a stream of %.0f packets/s, %d viewers of its own and %d edges",
		r.origin, originFwd, r.streamPPS, originViewers, edges)
	if edges > 0 {
		// What the origin sends beyond its own viewers, in copies of the stream per edge.
		fmt.Fprintf(out, ": %.2f copies per edge", (originFwd/r.streamPPS-float64(originViewers))/float64(edges))
	}
	fmt.Fprintln(out)
	seen := map[string]bool{}
	for i, n := range r.nodes {
		if seen[n] {
			continue
		}
		seen[n] = true
		var joins, delays []float64
		viewers := 0
		for j, st := range r.stats {
			if st == nil || r.sessions[j] == nil || r.nodes[st.node] != n {
				continue
			}
			viewers++
			if f := st.firstVideo.Load(); f != 0 {
				joins = append(joins, ms(time.Unix(0, f).Sub(st.joinStart)))
			}
			st.mu.Lock()
			delays = append(delays, st.delays...)
			st.mu.Unlock()
		}
		role := "edge"
		if n == r.origin {
			role = "origin"
		}
		fmt.Fprintf(out, "node %d (%s) %s: %d viewers, join p50 %.0f p99 %.0f ms, packet delay p50 %.2f p99 %.2f ms, CPU %.0f%% of a core, %.0f packets/s forwarded\n",
			i, role, n, viewers, pct(joins, 50), pct(joins, 99), pct(delays, 50), pct(delays, 99),
			100*(cpu1[n]-r.cpu0[n])/secs, (fwd1[n]-r.fwd0[n])/secs)
	}
}
