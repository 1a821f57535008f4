// Package whipclient is a WHIP/WHEP client on pion: it publishes tracks to, or watches a
// stream from, any WHIP/WHEP server. The load generator and the end-to-end tests use it.
package whipclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Options shape the client's WebRTC stack.
type Options struct {
	// Interfaces limits ICE gathering to these interfaces (e.g. "lo"); empty means all.
	Interfaces []string
	// Loopback gathers loopback candidates and turns mDNS off: what every test on one
	// machine needs.
	Loopback bool
	// Interceptors adds interceptors before the NACK generator and receiver reports, i.e.
	// closer to the network (a loss injector sees packets before NACK does).
	Interceptors []interceptor.Factory
	// NoNACK leaves out the NACK generator.
	NoNACK bool
	// TWCC sends transport-wide congestion control feedback, as browsers do, so the
	// server can estimate this client's bandwidth.
	TWCC bool
	// Simulcast negotiates the mid and rid header extensions a simulcast publisher needs.
	Simulcast bool
	// VideoExtensions and AudioExtensions are header extension URIs to negotiate (e.g.
	// urn:3gpp:video-orientation, urn:ietf:params:rtp-hdrext:ssrc-audio-level).
	VideoExtensions, AudioExtensions []string
	// NoReplayProtection turns SRTP replay protection off. A loss injector in Interceptors
	// sits after SRTP decryption, so the repaired packet would otherwise look like a replay
	// of the one it dropped; on a real network the lost packet never reaches SRTP.
	NoReplayProtection bool
	// RED offers redundant audio (audio/red, payload type 63 over Opus's 111), as
	// Chromium does.
	RED bool
}

// NewAPI builds a pion API for a WHIP publisher or a WHEP viewer with livegate's codecs.
func NewAPI(o Options) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	if o.RED {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 63, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: "audio/red", ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111"}}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	reg := &interceptor.Registry{}
	for _, f := range o.Interceptors {
		reg.Add(f)
	}
	if !o.NoNACK {
		gen, err := nack.NewGeneratorInterceptor()
		if err != nil {
			return nil, err
		}
		reg.Add(gen)
		resp, err := nack.NewResponderInterceptor()
		if err != nil {
			return nil, err
		}
		reg.Add(resp)
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	if o.TWCC {
		if err := webrtc.ConfigureTWCCSender(m, reg); err != nil {
			return nil, err
		}
	}
	if o.Simulcast {
		if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
			return nil, err
		}
	}
	for kind, uris := range map[webrtc.RTPCodecType][]string{webrtc.RTPCodecTypeVideo: o.VideoExtensions, webrtc.RTPCodecTypeAudio: o.AudioExtensions} {
		for _, uri := range uris {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, kind); err != nil {
				return nil, err
			}
		}
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	se := webrtc.SettingEngine{LoggerFactory: lf}
	if len(o.Interfaces) > 0 {
		se.SetInterfaceFilter(func(name string) bool { return slices.Contains(o.Interfaces, name) })
	}
	if o.NoReplayProtection {
		se.DisableSRTPReplayProtection(true)
	}
	if o.Loopback {
		// Never send to anything but loopback, whatever the server offers.
		se.SetRemoteIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetIncludeLoopbackCandidate(true)
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// Session is one WHIP or WHEP session.
type Session struct {
	PC       *webrtc.PeerConnection
	Location string // absolute URL of the session resource
	ETag     string
	Token    string
	// Answer is the server's SDP answer, and Answered when its POST response arrived.
	Answer   string
	Answered time.Time
	client   *http.Client

	connected atomic.Int64 // unix nanos when DTLS came up
}

// ConnectedAt is when the session's DTLS transport came up (zero until it has): the
// moment media can flow.
func (s *Session) ConnectedAt() time.Time {
	if n := s.connected.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Shape rewrites what goes over HTTP, to play another stack or network: Offer the
// client's SDP offer before it is sent (GStreamer's bundle-only sections, a rejected
// section), Answer the server's answer before it is applied (its candidates pointed at a
// relay). A nil func leaves that side alone.
type Shape struct {
	Offer  func(sdp string) string
	Answer func(sdp string) string
}

// ICEServers asks a WHIP or WHEP endpoint for its ICE servers before an offer, as RFC
// 9725 §4.6 allows: an OPTIONS request, whose Link headers (rel="ice-server") carry STUN
// and TURN URLs and TURN credentials.
func ICEServers(ctx context.Context, endpoint string) ([]webrtc.ICEServer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, endpoint, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, &Error{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	}
	return ParseICEServerLinks(resp.Header.Values("Link")), nil
}

// ParseICEServerLinks reads the rel="ice-server" entries of Link header values:
// `<turn:host:3478?transport=udp>; rel="ice-server"; username="u"; credential="p"`.
func ParseICEServerLinks(values []string) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, v := range values {
		for _, link := range splitLinks(v) {
			target, params, ok := strings.Cut(link, ">")
			target, found := strings.CutPrefix(strings.TrimSpace(target), "<")
			if !ok || !found || target == "" {
				continue
			}
			var rel, user, cred string
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok {
					continue
				}
				val = strings.Trim(strings.TrimSpace(val), `"`)
				switch strings.ToLower(strings.TrimSpace(k)) {
				case "rel":
					rel = val
				case "username":
					user = val
				case "credential":
					cred = val
				}
			}
			if rel != "ice-server" {
				continue
			}
			s := webrtc.ICEServer{URLs: []string{target}}
			if user != "" {
				s.Username, s.Credential = user, cred
			}
			out = append(out, s)
		}
	}
	return out
}

// splitLinks splits one Link header value into its links, at commas outside <...> and
// quoted strings.
func splitLinks(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i, c := range v {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			depth--
		case c == ',' && depth == 0:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

// Error is a non-2xx answer from the server.
type Error struct {
	Status      int
	ContentType string
	Body        string
}

func (e *Error) Error() string {
	return fmt.Sprintf("server answered %d: %s", e.Status, strings.TrimSpace(e.Body))
}

// Publish offers the tracks to a WHIP endpoint with the stream key as bearer token.
func Publish(ctx context.Context, api *webrtc.API, endpoint, key string, tracks ...webrtc.TrackLocal) (*Session, []*webrtc.RTPSender, error) {
	return PublishShaped(ctx, api, endpoint, key, Shape{}, tracks...)
}

// PublishSimulcast offers one video track as simulcast layers (each with its rid, low
// to high) and an audio track. api must come from NewAPI with Simulcast set.
func PublishSimulcast(ctx context.Context, api *webrtc.API, endpoint, key string, layers []webrtc.TrackLocal, audio webrtc.TrackLocal) (*Session, []*webrtc.RTPSender, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, nil, err
	}
	tr, err := pc.AddTransceiverFromTrack(layers[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	for _, l := range layers[1:] {
		if err := tr.Sender().AddEncoding(l); err != nil {
			pc.Close()
			return nil, nil, err
		}
	}
	atr, err := pc.AddTransceiverFromTrack(audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	s, err := negotiate(ctx, pc, endpoint, key, Shape{})
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	return s, []*webrtc.RTPSender{tr.Sender(), atr.Sender()}, nil
}

// LayerTagger returns what marks a simulcast layer's packets the way a browser does:
// pion sends simulcast without the mid and rid header extensions, and a server needs
// them to tell the layers apart. It fails when the extensions were not negotiated.
func LayerTagger(s *Session, sender *webrtc.RTPSender, rid string) (func(h *rtp.Header), error) {
	var midID, ridID uint8
	for _, e := range sender.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		}
	}
	if midID == 0 || ridID == 0 {
		return nil, fmt.Errorf("mid/rid header extensions not negotiated")
	}
	var mid []byte
	for _, t := range s.PC.GetTransceivers() {
		if t.Sender() == sender {
			mid = []byte(t.Mid())
		}
	}
	r := []byte(rid)
	return func(h *rtp.Header) {
		_ = h.SetExtension(midID, mid)
		_ = h.SetExtension(ridID, r)
	}, nil
}

// PublishShaped is Publish with the SDP rewritten by shape.
func PublishShaped(ctx context.Context, api *webrtc.API, endpoint, key string, shape Shape, tracks ...webrtc.TrackLocal) (*Session, []*webrtc.RTPSender, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, nil, err
	}
	var senders []*webrtc.RTPSender
	for _, t := range tracks {
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			pc.Close()
			return nil, nil, err
		}
		senders = append(senders, tr.Sender())
	}
	s, err := negotiate(ctx, pc, endpoint, key, shape)
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	return s, senders, nil
}

// View asks a WHEP endpoint for the stream's audio and video. onTrack runs for each track.
func View(ctx context.Context, api *webrtc.API, endpoint, token string, onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)) (*Session, error) {
	return ViewShaped(ctx, api, endpoint, token, Shape{}, onTrack)
}

// ViewShaped is View with the SDP rewritten by shape.
func ViewShaped(ctx context.Context, api *webrtc.API, endpoint, token string, shape Shape, onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)) (*Session, error) {
	return ViewConfigured(ctx, api, endpoint, token, webrtc.Configuration{}, shape, onTrack)
}

// ViewConfigured is ViewShaped with a peer connection configuration: ICE servers (see
// ICEServers) and an ICE transport policy ("relay": only through TURN).
func ViewConfigured(ctx context.Context, api *webrtc.API, endpoint, token string, cfg webrtc.Configuration, shape Shape,
	onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)) (*Session, error) {
	pc, err := api.NewPeerConnection(cfg)
	if err != nil {
		return nil, err
	}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			pc.Close()
			return nil, err
		}
	}
	if onTrack != nil {
		pc.OnTrack(onTrack)
	}
	s, err := negotiate(ctx, pc, endpoint, token, shape)
	if err != nil {
		pc.Close()
		return nil, err
	}
	return s, nil
}

func negotiate(ctx context.Context, pc *webrtc.PeerConnection, endpoint, token string, shape Shape) (*Session, error) {
	s := &Session{PC: pc, Token: token, client: http.DefaultClient}
	pc.SCTP().Transport().OnStateChange(func(st webrtc.DTLSTransportState) {
		if st == webrtc.DTLSTransportStateConnected {
			s.connected.CompareAndSwap(0, time.Now().UnixNano())
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	sdp := pc.LocalDescription().SDP
	if shape.Offer != nil {
		sdp = shape.Offer(sdp)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(sdp))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	s.Answered = time.Now()
	if resp.StatusCode != http.StatusCreated {
		return nil, &Error{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: string(body)}
	}
	loc, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	rel, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, fmt.Errorf("bad Location: %w", err)
	}
	s.Location, s.ETag, s.Answer = loc.ResolveReference(rel).String(), resp.Header.Get("ETag"), string(body)
	answer := s.Answer
	if shape.Answer != nil {
		answer = shape.Answer(answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return nil, fmt.Errorf("set answer: %w", err)
	}
	return s, nil
}

// Patch sends a trickle-ice-sdpfrag to the session and returns the response.
// The response's body is read (up to 1 MiB) into the returned bytes and closed.
func (s *Session) Patch(ctx context.Context, frag, ifMatch string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, s.Location, bytes.NewBufferString(frag))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, nil
}

// Close deletes the session on the server and closes the connection.
func (s *Session) Close(ctx context.Context) error {
	defer s.PC.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.Location, nil)
	if err != nil {
		return err
	}
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &Error{Status: resp.StatusCode}
	}
	return nil
}

// RestartICE performs a client-initiated ICE restart (RFC 9725 §4.3.2): new local
// credentials go to the server in a PATCH with If-Match: "*", and the server's new
// credentials and candidates from the answer fragment are applied locally.
func (s *Session) RestartICE(ctx context.Context) error {
	offer, err := s.PC.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(s.PC)
	if err := s.PC.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	local := s.PC.LocalDescription().SDP
	frag := "a=ice-ufrag:" + firstAttr(local, "ice-ufrag") + "\r\na=ice-pwd:" + firstAttr(local, "ice-pwd") + "\r\n"
	resp, body, err := s.Patch(ctx, frag, "*") //nolint:bodyclose // Patch read and closed it
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &Error{Status: resp.StatusCode, Body: string(body)}
	}
	s.ETag = resp.Header.Get("ETag")
	ufrag, pwd := firstAttr(string(body), "ice-ufrag"), firstAttr(string(body), "ice-pwd")
	var cands []string
	for _, line := range strings.Split(string(body), "\n") {
		if c, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), "a="); ok && strings.HasPrefix(c, "candidate:") {
			cands = append(cands, c)
		}
	}
	if ufrag == "" || pwd == "" {
		return fmt.Errorf("ICE restart answer without credentials: %q", body)
	}
	// The new answer is the old one with the server's new credentials.
	prev := s.PC.CurrentRemoteDescription().SDP
	var ans strings.Builder
	for _, line := range strings.Split(prev, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			line = "a=ice-ufrag:" + ufrag
		case strings.HasPrefix(line, "a=ice-pwd:"):
			line = "a=ice-pwd:" + pwd
		case strings.HasPrefix(line, "a=candidate:"), line == "a=end-of-candidates":
			continue
		}
		ans.WriteString(line + "\r\n")
	}
	if err := s.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.String()}); err != nil {
		return fmt.Errorf("apply restarted answer: %w", err)
	}
	for _, c := range cands {
		if err := s.PC.AddICECandidate(webrtc.ICECandidateInit{Candidate: c}); err != nil {
			return fmt.Errorf("add restarted candidate: %w", err)
		}
	}
	return nil
}

// firstAttr is the value of the first a=name: line of an SDP or SDP fragment.
func firstAttr(sdp, name string) string {
	for _, line := range strings.Split(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), "a="+name+":"); ok {
			return v
		}
	}
	return ""
}
