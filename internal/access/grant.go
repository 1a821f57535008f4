package access

import (
	"fmt"
	"time"

	"github.com/livegate/livegate/internal/ids"
	"github.com/livegate/livegate/internal/sessions"
)

// Right is a viewer's right to watch a stream now, as the paywall decided it. The gate
// turns it into a playback token with Grant and checks it again at admission.
type Right struct {
	Viewer      string // empty for an anonymous viewer of a free stream
	StreamID    string
	Country     string
	Entitlement string        // entitlement id, sessions.EntitlementFree or EntitlementPreview
	Preview     time.Duration // preview time left, for EntitlementPreview
}

// Grant is what a player needs to join: a playback token for one session.
type Grant struct {
	Token     string
	ExpiresAt time.Time
	SessionID string // the session the token opens (Livegate-Session, /v1/sessions/{id})
	Viewer    string // the right's viewer, or the anonymous id given to it
}

// Grant issues the playback token for r: one session id, the entitlement it stands on and
// the preview left, signed for the right's stream.
func (g *Gate) Grant(r Right) (Grant, error) {
	sid := ids.Session()
	viewer := r.Viewer
	if viewer == "" {
		viewer = "anon:" + ids.Session()
	}
	claims := PlaybackClaims{Stream: r.StreamID, Entitlement: r.Entitlement, Country: r.Country}
	if r.Entitlement == sessions.EntitlementPreview {
		claims.PreviewMillis = r.Preview.Milliseconds()
	}
	claims.Subject, claims.ID = viewer, sid
	tok, exp, err := g.tokens.Issue(claims)
	if err != nil {
		return Grant{}, fmt.Errorf("issue playback token: %w", err)
	}
	return Grant{Token: tok, ExpiresAt: exp, SessionID: sid, Viewer: viewer}, nil
}
