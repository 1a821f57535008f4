package access

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/livegate/livegate/internal/problem"
)

// ErrBadPlaybackToken means a WHEP join's token is missing, forged, expired or for
// another stream.
var ErrBadPlaybackToken = &problem.Error{Status: http.StatusUnauthorized, Type: "playback-token-invalid", Title: "Playback token required",
	Msg: "invalid playback token", Challenge: `Bearer realm="livegate-playback"`}

const playbackAudience = "livegate-playback"

// PlaybackClaims is what a playback token grants: one session of one viewer on one
// stream, under one entitlement, for a short time to start watching.
type PlaybackClaims struct {
	jwt.RegisteredClaims        // sub: viewer, jti: session id, exp
	Stream               string `json:"str"`
	Entitlement          string `json:"ent"` // entitlement id, sessions.EntitlementFree or EntitlementPreview
	Country              string `json:"cty,omitempty"`
	PreviewMillis        int64  `json:"pvw,omitempty"` // preview left when issued
}

// PlaybackTokens signs and checks playback tokens with a secret every node shares.
type PlaybackTokens struct {
	secret []byte
	ttl    time.Duration
}

// NewPlaybackTokens uses secret (32+ bytes) or, when empty, a random one: fine for a
// single node, wrong for a fleet.
func NewPlaybackTokens(secret string, ttl time.Duration) (*PlaybackTokens, error) {
	if ttl <= 0 {
		ttl = 2 * time.Minute
	}
	p := &PlaybackTokens{secret: []byte(secret), ttl: ttl}
	if secret == "" {
		p.secret = make([]byte, 32)
		_, _ = rand.Read(p.secret)
	} else if len(secret) < 32 {
		return nil, errors.New("playback secret must be at least 32 bytes")
	}
	return p, nil
}

// Issue signs a token for session id.
func (p *PlaybackTokens) Issue(c PlaybackClaims) (string, time.Time, error) {
	now := time.Now()
	exp := now.Add(p.ttl)
	c.Audience = jwt.ClaimStrings{playbackAudience}
	c.IssuedAt, c.ExpiresAt = jwt.NewNumericDate(now), jwt.NewNumericDate(exp)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(p.secret)
	return tok, exp, err
}

// Verify checks a token for a stream.
func (p *PlaybackTokens) Verify(tok, streamID string) (PlaybackClaims, error) {
	var c PlaybackClaims
	if err := p.parse(tok, playbackAudience, &c); err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadPlaybackToken, err)
	}
	if c.Stream != streamID {
		return c, fmt.Errorf("%w: issued for another stream", ErrBadPlaybackToken)
	}
	if c.ID == "" || c.Subject == "" {
		return c, fmt.Errorf("%w: no session or viewer", ErrBadPlaybackToken)
	}
	if !urlSafeID(c.ID) {
		return c, fmt.Errorf("%w: malformed session id", ErrBadPlaybackToken)
	}
	return c, nil
}

// parse checks a token this node's secret signed for audience, into claims.
func (p *PlaybackTokens) parse(tok, audience string, claims jwt.Claims) error {
	_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return p.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithAudience(audience), jwt.WithExpirationRequired(),
		jwt.WithLeeway(5*time.Second))
	return err
}

// urlSafeID reports whether a session id can name a WHEP resource as it is: 1 to 64
// letters, digits, '-' or '_'.
func urlSafeID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
