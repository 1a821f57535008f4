package access_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/livegate/livegate/internal/access"
)

func TestPlaybackTokens(t *testing.T) {
	p, err := access.NewPlaybackTokens("0123456789abcdef0123456789abcdef", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := access.PlaybackClaims{Stream: "str_1", Entitlement: "ent_1", Country: "MA", PreviewMillis: 1500}
	c.Subject, c.ID = "viewer", "sess"
	tok, exp, err := p.Issue(c)
	if err != nil || time.Until(exp) > time.Minute+time.Second {
		t.Fatalf("Issue: %v, exp %v", err, exp)
	}
	got, err := p.Verify(tok, "str_1")
	if err != nil || got.Subject != "viewer" || got.ID != "sess" || got.Entitlement != "ent_1" || got.PreviewMillis != 1500 {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	if _, err := p.Verify(tok, "str_2"); !errors.Is(err, access.ErrBadPlaybackToken) {
		t.Fatalf("token for another stream: %v", err)
	}
	other, _ := access.NewPlaybackTokens("", 0)
	if _, err := other.Verify(tok, "str_1"); !errors.Is(err, access.ErrBadPlaybackToken) {
		t.Fatalf("token from another secret: %v", err)
	}
	if _, err := access.NewPlaybackTokens("short", 0); err == nil {
		t.Fatal("short secret accepted")
	}
	// The session id names the WHEP resource: nothing that could reshape its URL.
	for _, id := range []string{"../admin", "a/b", "a b", strings.Repeat("x", 65)} {
		c.ID = id
		tok, _, _ := p.Issue(c)
		if _, err := p.Verify(tok, "str_1"); !errors.Is(err, access.ErrBadPlaybackToken) {
			t.Errorf("session id %q accepted: %v", id, err)
		}
	}
}

func TestViewerAuth(t *testing.T) {
	a, err := access.NewViewerAuth(access.ViewerAuthConfig{HS256Secret: "platform-secret-platform-secret-32", Issuer: "platform"})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := a.Mint("v1", time.Minute)
	req := httptest.NewRequest("POST", "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if v, err := a.Viewer(req); err != nil || v != "v1" {
		t.Fatalf("Viewer = %q, %v", v, err)
	}
	for name, claims := range map[string]jwt.MapClaims{
		"expired":       {"sub": "v", "iss": "platform", "exp": time.Now().Add(-time.Hour).Unix()},
		"no exp":        {"sub": "v", "iss": "platform"},
		"wrong issuer":  {"sub": "v", "iss": "evil", "exp": time.Now().Add(time.Hour).Unix()},
		"no subject":    {"iss": "platform", "exp": time.Now().Add(time.Hour).Unix()},
		"skew too much": {"sub": "v", "iss": "platform", "exp": time.Now().Add(time.Hour).Unix(), "nbf": time.Now().Add(10 * time.Minute).Unix()},
	} {
		tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("platform-secret-platform-secret-32"))
		if _, err := a.Verify(tok); !errors.Is(err, access.ErrNoViewer) {
			t.Errorf("%s token accepted: %v", name, err)
		}
	}
	// "none" and a different algorithm are refused.
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "v", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := a.Verify(none); err == nil {
		t.Error("alg none accepted")
	}

	// Ed25519 public key from the platform.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	path := filepath.Join(t.TempDir(), "platform.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	ed, err := access.NewViewerAuth(access.ViewerAuthConfig{PublicKeyPEM: path})
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "v9", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(priv)
	if v, err := ed.Verify(signed); err != nil || v != "v9" {
		t.Fatalf("EdDSA token: %q %v", v, err)
	}
	if ed.DevelopmentSecret() {
		t.Error("a node with only the platform's public key can mint")
	}
	hsOnEd, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "v", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(der)
	if _, err := ed.Verify(hsOnEd); err == nil {
		t.Error("HS256 token signed with the public key accepted (algorithm confusion)")
	}
}
