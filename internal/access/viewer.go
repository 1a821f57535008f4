// Package access turns a decision to let a viewer watch into one session of media and
// keeps it honest while it lasts: it knows viewers by the platform's JWTs, issues playback
// and replay tokens for the rights that paywall grants, admits one session per token at
// the WHEP gate, and ends sessions whose entitlement is revoked or whose viewer is kicked.
// Whether a viewer may watch at all (free, bought, preview, price) is paywall's question.
package access

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/livegate/livegate/internal/problem"
)

// ErrNoViewer means the request carries no valid viewer token.
var ErrNoViewer = &problem.Error{Status: http.StatusUnauthorized, Type: "viewer-unauthorized", Title: "Viewer token required",
	Msg: "no valid viewer token", Challenge: `Bearer realm="livegate-viewer"`}

// ViewerAuthConfig says how the embedding platform signs its viewers' tokens.
type ViewerAuthConfig struct {
	// HS256Secret verifies (and, in development, mints) HS256 tokens.
	HS256Secret string
	// PublicKeyPEM is a file with an Ed25519 or ECDSA P-256 public key (EdDSA / ES256).
	PublicKeyPEM string
	// Leeway bounds the clock skew accepted on exp/nbf/iat.
	Leeway time.Duration
	// Issuer and Audience, when set, must match.
	Issuer, Audience string
	// DevelopmentSecret, with neither a secret nor a key, is the development secret to
	// use instead of a random one: a development fleet's nodes share one (in Redis), so
	// a token from one node's /dev/login works on every node.
	DevelopmentSecret []byte
}

// ViewerAuth verifies platform JWTs; the viewer id is the token's sub.
type ViewerAuth struct {
	cfg     ViewerAuthConfig
	key     any
	methods []string
	secret  []byte
	// devSecret: the secret is one this process made, so no platform trusts it and
	// minting tokens for anyone opens nothing real.
	devSecret bool
}

// NewViewerAuth prepares verification. With neither a secret nor a public key it makes a
// random development secret, so tokens minted by this process (dev login, livegatectl
// token) work and nothing else does.
func NewViewerAuth(cfg ViewerAuthConfig) (*ViewerAuth, error) {
	if cfg.Leeway <= 0 {
		cfg.Leeway = 30 * time.Second
	}
	a := &ViewerAuth{cfg: cfg}
	switch {
	case cfg.PublicKeyPEM != "":
		raw, err := os.ReadFile(cfg.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("viewer jwt public key: %w", err)
		}
		if k, err := jwt.ParseEdPublicKeyFromPEM(raw); err == nil {
			a.key, a.methods = k, []string{"EdDSA"}
		} else if k, err := jwt.ParseECPublicKeyFromPEM(raw); err == nil {
			a.key, a.methods = k, []string{"ES256"}
		} else {
			return nil, fmt.Errorf("viewer jwt public key: not an Ed25519 or P-256 key")
		}
	case cfg.HS256Secret != "":
		if len(cfg.HS256Secret) < 32 {
			return nil, errors.New("viewer jwt secret must be at least 32 bytes")
		}
		a.secret = []byte(cfg.HS256Secret)
		a.key, a.methods = a.secret, []string{"HS256"}
	default:
		a.secret = cfg.DevelopmentSecret
		if len(a.secret) < 32 {
			a.secret = make([]byte, 32)
			_, _ = rand.Read(a.secret)
		}
		a.key, a.methods = a.secret, []string{"HS256"}
		a.devSecret = true
	}
	return a, nil
}

// DevelopmentSecret reports whether viewer tokens are signed with a secret this node made
// itself (neither a platform secret nor a public key configured). Only then may the node
// hand out viewer tokens (/dev/login): with the platform's secret, a minted token would
// be a real identity.
func (a *ViewerAuth) DevelopmentSecret() bool { return a.devSecret }

// Mint signs a viewer token with an HS256 secret; development and tests only.
func (a *ViewerAuth) Mint(viewerID string, ttl time.Duration) (string, error) {
	return a.MintIdentity(Identity{Subject: viewerID, Role: RoleViewer}, ttl)
}

// Role is what a platform token lets its holder do: watch (a viewer, the default),
// manage one creator's streams and money (a creator), or everything (an operator).
type Role string

// Roles a token's "role" claim may name.
const (
	RoleViewer   Role = "viewer"
	RoleCreator  Role = "creator"
	RoleOperator Role = "operator"
)

// Identity is who a verified token says its holder is.
type Identity struct {
	Subject   string
	Role      Role
	CreatorID string // the creator a creator token manages
}

// platformClaims are the claims livegate reads of the platform's tokens.
type platformClaims struct {
	jwt.RegisteredClaims
	Role      Role   `json:"role,omitempty"`
	CreatorID string `json:"creator_id,omitempty"`
}

// Identify checks a token and says who holds it. A creator token must name its creator.
func (a *ViewerAuth) Identify(tok string) (Identity, error) {
	opts := []jwt.ParserOption{jwt.WithValidMethods(a.methods), jwt.WithLeeway(a.cfg.Leeway), jwt.WithExpirationRequired()}
	if a.cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(a.cfg.Issuer))
	}
	if a.cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(a.cfg.Audience))
	}
	var claims platformClaims
	if _, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return a.key, nil }, opts...); err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrNoViewer, err)
	}
	if claims.Subject == "" || len(claims.Subject) > 200 {
		return Identity{}, fmt.Errorf("%w: sub missing or too long", ErrNoViewer)
	}
	id := Identity{Subject: claims.Subject, Role: claims.Role, CreatorID: claims.CreatorID}
	switch id.Role {
	case "":
		id.Role = RoleViewer
	case RoleViewer, RoleOperator:
	case RoleCreator:
		if id.CreatorID == "" || len(id.CreatorID) > 200 {
			return Identity{}, fmt.Errorf("%w: a creator token names its creator_id", ErrNoViewer)
		}
	default:
		return Identity{}, fmt.Errorf("%w: unknown role %q", ErrNoViewer, id.Role)
	}
	return id, nil
}

// MintIdentity signs a token for id with an HS256 secret; development and tests only.
func (a *ViewerAuth) MintIdentity(id Identity, ttl time.Duration) (string, error) {
	if a.secret == nil {
		return "", errors.New("tokens are signed by the platform (public key configured)")
	}
	now := time.Now()
	claims := platformClaims{RegisteredClaims: jwt.RegisteredClaims{Subject: id.Subject, IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl))}}
	if id.Role != RoleViewer {
		claims.Role, claims.CreatorID = id.Role, id.CreatorID
	}
	if a.cfg.Issuer != "" {
		claims.Issuer = a.cfg.Issuer
	}
	if a.cfg.Audience != "" {
		claims.Audience = jwt.ClaimStrings{a.cfg.Audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(a.secret)
}

// Viewer returns the verified viewer id of a request's bearer token.
func (a *ViewerAuth) Viewer(r *http.Request) (string, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return "", ErrNoViewer
	}
	return a.Verify(tok)
}

// Verify checks a token and returns its subject.
func (a *ViewerAuth) Verify(tok string) (string, error) {
	id, err := a.Identify(tok)
	return id.Subject, err
}
