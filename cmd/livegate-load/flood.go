package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// floodAddr is where the flood comes from: another loopback address than the viewers',
// so that the node sees one abusive client beside them, as it would on the internet.
const floodAddr = "127.0.0.2"

// floodResult is what the node answered a flood of offers that never connect.
type floodResult struct {
	answered, refused, other int
	took                     time.Duration
	audience                 audienceStats // the stream's public counts right after the flood
}

type audienceStats struct {
	Viewers int `json:"viewers"`
	Unique  int `json:"unique_viewers"`
}

// flood posts n WHEP offers with no candidates (a real pion offer taken before it
// gathered any) from floodAddr, one after another, as fast as the node answers.
func flood(ctx context.Context, base, streamID string, n int) (floodResult, error) {
	offer, err := neverConnectingOffer()
	if err != nil {
		return floodResult{}, err
	}
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(floodAddr)}, Timeout: 5 * time.Second}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext}}
	defer client.CloseIdleConnections()
	var res floodResult
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		req, err := http.NewRequestWithContext(ctx, "POST", base+"/whep/"+streamID, strings.NewReader(offer))
		if err != nil {
			return res, err
		}
		req.Header.Set("Content-Type", "application/sdp")
		resp, err := client.Do(req)
		if err != nil {
			return res, fmt.Errorf("flood offer %d: %w", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusCreated:
			res.answered++
		case http.StatusTooManyRequests:
			res.refused++
		default:
			res.other++
		}
	}
	res.took = time.Since(start)
	err = apiCall(ctx, "GET", base+"/v1/streams/"+streamID+"/stats", "", nil, &res.audience)
	return res, err
}

func neverConnectingOffer() (string, error) {
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", err
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return "", err
		}
	}
	o, err := pc.CreateOffer(nil) // never set as local description: nothing is gathered
	if err != nil {
		return "", err
	}
	return o.SDP, nil
}

// rssSampler records the server's resident memory every 100 ms until stopped.
type rssSampler struct {
	pid        int
	first, max atomic.Int64 // kB
	stop       chan struct{}
	wg         sync.WaitGroup
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{})}
	if pid == 0 {
		return s
	}
	s.first.Store(readRSS(pid))
	s.max.Store(s.first.Load())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				if v := readRSS(pid); v > s.max.Load() {
					s.max.Store(v)
				}
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns the first, highest and last figures in MB.
func (s *rssSampler) Stop() (first, peak, last float64) {
	close(s.stop)
	s.wg.Wait()
	if s.pid == 0 {
		return 0, 0, 0
	}
	return float64(s.first.Load()) / 1024, float64(s.max.Load()) / 1024, float64(readRSS(s.pid)) / 1024
}

// readRSS is VmRSS of /proc/<pid>/status in kB, 0 when unreadable.
func readRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}
