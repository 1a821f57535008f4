package access

import (
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/livegate/livegate/internal/problem"
)

// ErrBadReplayToken means a replay URL's token is missing, forged, expired or for another
// recording.
var ErrBadReplayToken = &problem.Error{Status: http.StatusUnauthorized, Type: "replay-token-invalid", Title: "Replay link invalid",
	Msg: "invalid or expired replay link: ask for a new one (POST /v1/streams/{id}/replay)"}

const replayAudience = "livegate-replay"

// ReplayClaims is what a replay URL's token grants: one viewer, one part of one stream's
// recording, under one entitlement, until it expires. Its audience is not a playback
// token's: neither opens the other.
type ReplayClaims struct {
	jwt.RegisteredClaims        // sub: viewer, exp
	Stream               string `json:"str"`
	Recording            string `json:"rec"`
	Entitlement          string `json:"ent"`
	// PreviewMillis, for a viewer on the stream's free preview, is how much of the part
	// the link serves: its first milliseconds, cut on a keyframe.
	PreviewMillis int64 `json:"pvw,omitempty"`
}

// IssueReplay signs viewer's replay token, valid for ttl.
func (p *PlaybackTokens) IssueReplay(viewer string, c ReplayClaims, ttl time.Duration) (string, time.Time, error) {
	now := time.Now()
	c.Subject = viewer
	exp := now.Add(ttl)
	c.Audience = jwt.ClaimStrings{replayAudience}
	c.IssuedAt, c.ExpiresAt = jwt.NewNumericDate(now), jwt.NewNumericDate(exp)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(p.secret)
	return tok, exp, err
}

// VerifyReplay checks a replay token for one part of a stream's recording.
func (p *PlaybackTokens) VerifyReplay(tok, streamID, recordingID string) (ReplayClaims, error) {
	var c ReplayClaims
	if err := p.parse(tok, replayAudience, &c); err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadReplayToken, err)
	}
	if c.Stream != streamID || c.Recording != recordingID || c.Subject == "" {
		return c, fmt.Errorf("%w: issued for another recording", ErrBadReplayToken)
	}
	return c, nil
}
