package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/livegate/livegate/internal/store"
)

const recordingColumns = `id, stream_id, creator_id, storage_key, node, state, started_at, ended_at, bytes, duration_ms`

func scanRecording(row scanner) (store.Recording, error) {
	var r store.Recording
	var started int64
	var ended sql.NullInt64
	err := row.Scan(&r.ID, &r.StreamID, &r.CreatorID, &r.Key, &r.Node, &r.State, &started, &ended, &r.Bytes, &r.DurationMS)
	r.StartedAt = time.UnixMicro(started).UTC()
	r.EndedAt = fromMicros(ended)
	return r, err
}

// CreateRecording implements store.Store.
func (d *DB) CreateRecording(ctx context.Context, r store.Recording) error {
	_, err := d.exec(ctx, `INSERT INTO recordings (`+recordingColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?)`,
		r.ID, r.StreamID, r.CreatorID, r.Key, r.Node, r.State, r.StartedAt.UnixMicro(), micros(r.EndedAt), r.Bytes, r.DurationMS)
	switch {
	case d.isForeignKeyViolation(err):
		return fmt.Errorf("create recording: stream %s: %w", r.StreamID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("create recording: %w", err)
	}
	return nil
}

// FinishRecording implements store.Store.
func (d *DB) FinishRecording(ctx context.Context, r store.Recording) error {
	res, err := d.exec(ctx, `UPDATE recordings SET state = ?, ended_at = ?, bytes = ?, duration_ms = ? WHERE id = ?`,
		r.State, micros(r.EndedAt), r.Bytes, r.DurationMS, r.ID)
	if err != nil {
		return fmt.Errorf("finish recording %s: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("finish recording %s: %w", r.ID, store.ErrNotFound)
	}
	return nil
}

// CheckpointRecording implements store.Store.
func (d *DB) CheckpointRecording(ctx context.Context, id string, bytes, durationMS int64) error {
	if _, err := d.exec(ctx, `UPDATE recordings SET bytes = ?, duration_ms = ? WHERE id = ? AND state = 'recording'`, bytes, durationMS, id); err != nil {
		return fmt.Errorf("checkpoint recording %s: %w", id, err)
	}
	return nil
}

// Recordings implements store.Store: the stream's parts, oldest first.
func (d *DB) Recordings(ctx context.Context, streamID string) ([]store.Recording, error) {
	return d.recordings(ctx, `WHERE stream_id = ? ORDER BY started_at, id`, streamID)
}

// RecordingsInProgress implements store.Store.
func (d *DB) RecordingsInProgress(ctx context.Context, node string) ([]store.Recording, error) {
	return d.recordings(ctx, `WHERE node = ? AND state = 'recording' ORDER BY started_at`, node)
}

func (d *DB) recordings(ctx context.Context, where string, args ...any) ([]store.Recording, error) {
	return queryAll(ctx, d.db, d.rebind(`SELECT `+recordingColumns+` FROM recordings `+where), "recordings", scanRecording, args...)
}

// ExpiredRecordings implements store.Store.
func (d *DB) ExpiredRecordings(ctx context.Context, def time.Duration, now time.Time) ([]store.Recording, error) {
	return d.recordings(ctx, `WHERE state <> 'recording' AND stream_id IN (SELECT id FROM streams WHERE ended_at IS NOT NULL
		AND ended_at + (CASE WHEN retention_seconds > 0 THEN retention_seconds ELSE ? END) * 1000000 < ?) ORDER BY started_at LIMIT 1000`,
		int64(def/time.Second), now.UnixMicro())
}

// DeleteRecording implements store.Store.
func (d *DB) DeleteRecording(ctx context.Context, id string) error {
	res, err := d.exec(ctx, `DELETE FROM recordings WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete recording %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete recording %s: %w", id, store.ErrNotFound)
	}
	return nil
}
