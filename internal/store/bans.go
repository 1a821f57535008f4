package store

import (
	"context"
	"time"
)

// Ban keeps a viewer out until a time: of one stream (StreamID), of one creator's
// streams (CreatorID), or of every stream (neither).
type Ban struct {
	ID        string
	ViewerID  string
	StreamID  string
	CreatorID string
	Until     time.Time
	Reason    string
	CreatedBy string
	CreatedAt time.Time
	LiftedAt  time.Time // zero: not lifted
}

// Applies says whether the ban covers a stream of creator at now.
func (b Ban) Applies(streamID, creatorID string, now time.Time) bool {
	if !b.LiftedAt.IsZero() || !now.Before(b.Until) {
		return false
	}
	switch {
	case b.StreamID != "":
		return b.StreamID == streamID
	case b.CreatorID != "":
		return b.CreatorID == creatorID
	}
	return true
}

// Bans are operators' bans of viewers.
type Bans interface {
	// CreateBan records a ban and its audit entry in one transaction.
	CreateBan(ctx context.Context, b Ban, audit AuditEntry) error
	// ActiveBan finds a ban of viewer covering a stream of creator at now (ErrNotFound:
	// none).
	ActiveBan(ctx context.Context, viewerID, streamID, creatorID string, now time.Time) (Ban, error)
	// ListBans lists bans, of one viewer when viewerID is set, newest first; ended and
	// lifted ones only with all.
	ListBans(ctx context.Context, viewerID string, all bool, now time.Time) ([]Ban, error)
	// LiftBan ends a ban now, with its audit entry; ErrNotFound for no such ban.
	LiftBan(ctx context.Context, id string, at time.Time, audit AuditEntry) (Ban, error)
}
