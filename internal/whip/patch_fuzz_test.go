package whip

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
)

// fakePeer is a session's peer connection that records what PATCH gave it.
type fakePeer struct {
	added int
}

func (p *fakePeer) ID() string     { return "sess" }
func (p *fakePeer) OnClose(func()) {}
func (p *fakePeer) AddICECandidate(c webrtc.ICECandidateInit) error {
	if !strings.HasPrefix(c.Candidate, "candidate:") {
		return errors.New("not a candidate")
	}
	p.added++
	return nil
}
func (p *fakePeer) RestartICE(ctx context.Context, ufrag, pwd string) (string, error) {
	return "a=ice-ufrag:newl\r\na=ice-pwd:newlocalpasswordnewlocalpw\r\n", nil
}
func (p *fakePeer) LocalICE() (string, string)  { return "locl", "localpasswordlocalpassword" }
func (p *fakePeer) RemoteICE() (string, string) { return "remo", "remotepasswordremotepasswd" }

func patchHandler(t testing.TB) (*Handler, *fakePeer) {
	d := config.Default()
	h, err := New(nil, nil, Config{MaxBodyBytes: d.MaxBodyBytes, MaxCandidates: d.MaxCandidates, MaxPatches: 1 << 30,
		MaxMediaSections: d.MaxMediaSections, MaxSDPLine: d.MaxSDPLine, MaxPatchBytes: d.MaxPatchBytes,
		PathParam: func(r *http.Request, name string) string {
			parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
			if name == "stream" {
				return parts[1]
			}
			return parts[2]
		}})
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePeer{}
	h.sessions["sess"] = &session{id: "sess", streamID: "st", peer: p, close: func() {}, etag: `"locl"`}
	return h, p
}

// FuzzTricklePatch drives the whole PATCH handler of a WHEP session with any body: it
// never panics or fails with a 5xx, every refusal is problem+json, and no more
// candidates reach the peer connection than a session may add.
func FuzzTricklePatch(f *testing.F) {
	f.Add("a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n", "")
	f.Add("a=ice-ufrag:EsAw\r\na=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\na=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n", "*")
	f.Add("a=end-of-candidates\r\n", `"locl"`)
	f.Add(strings.Repeat("a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n", 40), "")
	f.Add("a=candidate:"+strings.Repeat("x", 5000), "")
	f.Fuzz(func(t *testing.T, body, ifMatch string) {
		h, p := patchHandler(t)
		req := httptest.NewRequest(http.MethodPatch, "/whep/st/sess", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
		if ifMatch != "" && !strings.ContainsAny(ifMatch, "\r\n\x00") {
			req.Header.Set("If-Match", ifMatch)
		}
		rec := httptest.NewRecorder()
		h.Patch(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("PATCH %q: %d %s", body, rec.Code, rec.Body)
		case rec.Code >= 400:
			var pd struct {
				Type   string `json:"type"`
				Status int    `json:"status"`
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("refusal %d as %q", rec.Code, ct)
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &pd); err != nil || pd.Type == "" || pd.Status != rec.Code {
				t.Fatalf("refusal body %q (%v)", rec.Body, err)
			}
		}
		if p.added > config.Default().MaxCandidates {
			t.Fatalf("%d candidates reached the peer", p.added)
		}
	})
}

func TestPatchBounds(t *testing.T) {
	h, _ := patchHandler(t)
	for _, tc := range []struct {
		name, body, wantType string
	}{
		{"long line", "a=candidate:" + strings.Repeat("1", 3000) + "\r\n", "sdp-line-too-long"},
		{"big body", strings.Repeat("a=end-of-candidates\r\n", 1000), "body-too-large"},
		{"too many candidates", strings.Repeat("a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n", 33), "too-many-candidates"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPatch, "/whep/st/sess", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
			rec := httptest.NewRecorder()
			h.Patch(rec, req)
			var pd struct{ Type string }
			_ = json.Unmarshal(rec.Body.Bytes(), &pd)
			if rec.Code != http.StatusRequestEntityTooLarge || !strings.HasSuffix(pd.Type, "/"+tc.wantType) && pd.Type != tc.wantType {
				t.Fatalf("%d %s, want 413 %s", rec.Code, rec.Body, tc.wantType)
			}
		})
	}
}
