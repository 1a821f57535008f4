package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/livegate/livegate/internal/store"
)

const banColumns = `id, viewer_id, stream_id, creator_id, until_at, reason, created_by, created_at, lifted_at`

func scanBan(row scanner) (store.Ban, error) {
	var b store.Ban
	var until, created int64
	var lifted sql.NullInt64
	err := row.Scan(&b.ID, &b.ViewerID, &b.StreamID, &b.CreatorID, &until, &b.Reason, &b.CreatedBy, &created, &lifted)
	b.Until, b.CreatedAt, b.LiftedAt = time.UnixMicro(until).UTC(), time.UnixMicro(created).UTC(), fromMicros(lifted)
	return b, err
}

func (d *DB) audit(ctx context.Context, tx *sql.Tx, a store.AuditEntry) error {
	_, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO audit_log (id, object, actor, at, before_json, after_json) VALUES (?,?,?,?,?,?)`),
		a.ID, a.Object, a.Actor, a.At.UnixMicro(), a.Before, a.After)
	if err != nil {
		return fmt.Errorf("audit %s: %w", a.Object, err)
	}
	return nil
}

// CreateBan implements store.Bans.
func (d *DB) CreateBan(ctx context.Context, b store.Ban, a store.AuditEntry) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO bans (`+banColumns+`) VALUES (?,?,?,?,?,?,?,?,?)`),
			b.ID, b.ViewerID, b.StreamID, b.CreatorID, b.Until.UnixMicro(), b.Reason, b.CreatedBy, b.CreatedAt.UnixMicro(), micros(b.LiftedAt)); err != nil {
			return fmt.Errorf("create ban: %w", err)
		}
		return d.audit(ctx, tx, a)
	})
}

// ActiveBan implements store.Bans.
func (d *DB) ActiveBan(ctx context.Context, viewerID, streamID, creatorID string, now time.Time) (store.Ban, error) {
	bans, err := queryAll(ctx, d.db, d.rebind(`SELECT `+banColumns+` FROM bans WHERE viewer_id = ? AND until_at > ? AND lifted_at IS NULL
		AND (stream_id = ? OR creator_id = ? OR (stream_id = '' AND creator_id = '')) ORDER BY until_at DESC`), "bans", scanBan,
		viewerID, now.UnixMicro(), streamID, creatorID)
	if err != nil {
		return store.Ban{}, err
	}
	for _, b := range bans {
		if b.Applies(streamID, creatorID, now) {
			return b, nil
		}
	}
	return store.Ban{}, fmt.Errorf("ban of %s: %w", viewerID, store.ErrNotFound)
}

// ListBans implements store.Bans.
func (d *DB) ListBans(ctx context.Context, viewerID string, all bool, now time.Time) ([]store.Ban, error) {
	q, args := `SELECT `+banColumns+` FROM bans WHERE 1 = 1`, []any{}
	if viewerID != "" {
		q += ` AND viewer_id = ?`
		args = append(args, viewerID)
	}
	if !all {
		q += ` AND until_at > ? AND lifted_at IS NULL`
		args = append(args, now.UnixMicro())
	}
	return queryAll(ctx, d.db, d.rebind(q+` ORDER BY created_at DESC, id LIMIT 1000`), "bans", scanBan, args...)
}

// LiftBan implements store.Bans.
func (d *DB) LiftBan(ctx context.Context, id string, at time.Time, a store.AuditEntry) (store.Ban, error) {
	var b store.Ban
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, d.rebind(`UPDATE bans SET lifted_at = ? WHERE id = ? AND lifted_at IS NULL`), at.UnixMicro(), id); err != nil {
			return fmt.Errorf("lift ban: %w", err)
		}
		var err error
		b, err = scanBan(tx.QueryRowContext(ctx, d.rebind(`SELECT `+banColumns+` FROM bans WHERE id = ?`), id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("ban %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		return d.audit(ctx, tx, a)
	})
	return b, err
}
