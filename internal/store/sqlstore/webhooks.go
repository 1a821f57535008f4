package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// CreateWebhookEndpoint implements store.Webhooks.
func (d *DB) CreateWebhookEndpoint(ctx context.Context, e store.WebhookEndpoint) error {
	_, err := d.exec(ctx, `INSERT INTO webhook_endpoints (id, url, secret, event_types, enabled, created_at) VALUES (?,?,?,?,?,?)`,
		e.ID, e.URL, e.Secret, strings.Join(e.EventTypes, ","), b2i(e.Enabled), e.CreatedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("create webhook endpoint: %w", err)
	}
	return nil
}

func webhookEndpoints(ctx context.Context, q querier) ([]store.WebhookEndpoint, error) {
	return queryAll(ctx, q, `SELECT id, url, secret, event_types, enabled, created_at FROM webhook_endpoints ORDER BY created_at`,
		"webhook endpoints", func(row scanner) (store.WebhookEndpoint, error) {
			var e store.WebhookEndpoint
			var types string
			var enabled int
			var created int64
			err := row.Scan(&e.ID, &e.URL, &e.Secret, &types, &enabled, &created)
			if types != "" {
				e.EventTypes = strings.Split(types, ",")
			}
			e.Enabled, e.CreatedAt = enabled == 1, time.UnixMicro(created).UTC()
			return e, err
		})
}

// WebhookEndpoints implements store.Webhooks.
func (d *DB) WebhookEndpoints(ctx context.Context) ([]store.WebhookEndpoint, error) {
	return webhookEndpoints(ctx, d.db)
}

// DeleteWebhookEndpoint implements store.Webhooks: its pending deliveries go with it.
func (d *DB) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, d.rebind(`DELETE FROM webhook_endpoints WHERE id = ?`), id)
		if err != nil {
			return fmt.Errorf("delete webhook endpoint: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("webhook endpoint %s: %w", id, store.ErrNotFound)
		}
		_, err = tx.ExecContext(ctx, d.rebind(`UPDATE webhook_deliveries SET state = 'failed', last_error = 'endpoint deleted'
			WHERE endpoint_id = ? AND state = 'pending'`), id)
		return err
	})
}

func emitEvent(ctx context.Context, d *DB, q querier, ev store.OutboundEvent) error {
	eps, err := webhookEndpoints(ctx, q)
	if err != nil {
		return err
	}
	var to []string
	for _, e := range eps {
		if e.Wants(ev.Type) {
			to = append(to, e.ID)
		}
	}
	if len(to) == 0 {
		return nil // no endpoint takes it: there is nothing to send, now or later
	}
	res, err := q.ExecContext(ctx, d.rebind(`INSERT INTO outbound_events (id, type, payload, created_at) VALUES (?,?,?,?) ON CONFLICT (id) DO NOTHING`),
		ev.ID, ev.Type, string(ev.Payload), ev.CreatedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("emit event %s: %w", ev.Type, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // emitted before
	}
	for _, id := range to {
		if _, err := q.ExecContext(ctx, d.rebind(`INSERT INTO webhook_deliveries (id, event_id, endpoint_id, state, attempts, next_attempt_at,
			last_status, last_error, created_at) VALUES (?,?,?,'pending',0,?,0,'',?)`),
			store.NewID("whd"), ev.ID, id, ev.CreatedAt.UnixMicro(), ev.CreatedAt.UnixMicro()); err != nil {
			return fmt.Errorf("queue delivery of %s: %w", ev.Type, err)
		}
	}
	return nil
}

// EmitEvent implements store.Webhooks.
func (d *DB) EmitEvent(ctx context.Context, ev store.OutboundEvent) error {
	return d.inTx(ctx, func(tx *sql.Tx) error { return emitEvent(ctx, d, tx, ev) })
}

// OutboundEvent implements store.Webhooks.
func (d *DB) OutboundEvent(ctx context.Context, id string) (store.OutboundEvent, error) {
	var ev store.OutboundEvent
	var payload string
	var created int64
	err := d.db.QueryRowContext(ctx, d.rebind(`SELECT id, type, payload, created_at FROM outbound_events WHERE id = ?`), id).
		Scan(&ev.ID, &ev.Type, &payload, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return ev, fmt.Errorf("event %s: %w", id, store.ErrNotFound)
	}
	ev.Payload, ev.CreatedAt = []byte(payload), time.UnixMicro(created).UTC()
	return ev, err
}

const deliveryColumns = `w.id, w.event_id, e.type, w.endpoint_id, COALESCE(p.url, ''), w.state, w.attempts, w.next_attempt_at,
	w.last_status, w.last_error, w.created_at, w.delivered_at`

const deliveryFrom = ` FROM webhook_deliveries w JOIN outbound_events e ON e.id = w.event_id
	LEFT JOIN webhook_endpoints p ON p.id = w.endpoint_id `

func scanDelivery(row scanner) (store.WebhookDelivery, error) {
	var w store.WebhookDelivery
	var next, created int64
	var delivered sql.NullInt64
	err := row.Scan(&w.ID, &w.EventID, &w.EventType, &w.EndpointID, &w.EndpointURL, &w.State, &w.Attempts, &next,
		&w.LastStatus, &w.LastError, &created, &delivered)
	w.NextAttemptAt, w.CreatedAt, w.DeliveredAt = time.UnixMicro(next).UTC(), time.UnixMicro(created).UTC(), fromMicros(delivered)
	return w, err
}

func (d *DB) deliveries(ctx context.Context, where string, order string, args ...any) ([]store.WebhookDelivery, error) {
	return queryAll(ctx, d.db, d.rebind(`SELECT `+deliveryColumns+deliveryFrom+where+order), "webhook deliveries", scanDelivery, args...)
}

// DueDeliveries implements store.Webhooks.
func (d *DB) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]store.WebhookDelivery, error) {
	return d.deliveries(ctx, `WHERE w.state = 'pending' AND w.next_attempt_at <= ?`, ` ORDER BY w.next_attempt_at LIMIT ?`, now.UnixMicro(), limit)
}

// ClaimDelivery implements store.Webhooks.
func (d *DB) ClaimDelivery(ctx context.Context, id string, now, leaseUntil time.Time) (bool, error) {
	res, err := d.exec(ctx, `UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ? AND state = 'pending' AND next_attempt_at <= ?`,
		leaseUntil.UnixMicro(), id, now.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("claim delivery: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// FinishAttempt implements store.Webhooks.
func (d *DB) FinishAttempt(ctx context.Context, w store.WebhookDelivery) error {
	_, err := d.exec(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_at = ?, last_status = ?, last_error = ?,
		delivered_at = ? WHERE id = ?`, w.State, w.Attempts, w.NextAttemptAt.UnixMicro(), w.LastStatus, w.LastError, micros(w.DeliveredAt), w.ID)
	if err != nil {
		return fmt.Errorf("finish delivery attempt: %w", err)
	}
	return nil
}

// Deliveries implements store.Webhooks, newest first.
func (d *DB) Deliveries(ctx context.Context, f store.DeliveryFilter) ([]store.WebhookDelivery, error) {
	var conds []string
	var args []any
	for _, c := range []struct{ col, val string }{{"w.state", f.State}, {"e.type", f.EventType}, {"w.event_id", f.EventID}} {
		if c.val != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	return d.deliveries(ctx, where, ` ORDER BY w.created_at DESC, w.id LIMIT ?`, append(args, limit)...)
}

// Delivery implements store.Webhooks.
func (d *DB) Delivery(ctx context.Context, id string) (store.WebhookDelivery, error) {
	w, err := scanDelivery(d.db.QueryRowContext(ctx, d.rebind(`SELECT `+deliveryColumns+deliveryFrom+`WHERE w.id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return w, fmt.Errorf("delivery %s: %w", id, store.ErrNotFound)
	}
	return w, err
}

// ReplayDelivery implements store.Webhooks.
func (d *DB) ReplayDelivery(ctx context.Context, id string, now time.Time) (store.WebhookDelivery, error) {
	old, err := d.Delivery(ctx, id)
	if err != nil {
		return old, err
	}
	nid := store.NewID("whd")
	if _, err := d.exec(ctx, `INSERT INTO webhook_deliveries (id, event_id, endpoint_id, state, attempts, next_attempt_at, last_status,
		last_error, created_at) VALUES (?,?,?,'pending',0,?,0,'',?)`, nid, old.EventID, old.EndpointID, now.UnixMicro(), now.UnixMicro()); err != nil {
		return old, fmt.Errorf("replay delivery: %w", err)
	}
	return d.Delivery(ctx, nid)
}
