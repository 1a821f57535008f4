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

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

const policyColumns = `code, enabled, launch_at, currency, min_ticket, max_ticket, min_sub, max_sub, fee_bps, fee_waived_until, payouts, updated_at, min_tip, max_tip`

func scanPolicy(row scanner) (store.CountryPolicy, error) {
	var p store.CountryPolicy
	var enabled int
	var launch, waived sql.NullInt64
	var updated int64
	err := row.Scan(&p.Code, &enabled, &launch, &p.Currency, &p.MinTicket, &p.MaxTicket, &p.MinSub, &p.MaxSub,
		&p.FeeBPS, &waived, &p.Payouts, &updated, &p.MinTip, &p.MaxTip)
	p.Enabled = enabled == 1
	p.LaunchAt, p.FeeWaivedUntil = fromMicros(launch), fromMicros(waived)
	p.UpdatedAt = time.UnixMicro(updated).UTC()
	return p, err
}

// CountryPolicy implements store.Billing.
func (d *DB) CountryPolicy(ctx context.Context, code string) (store.CountryPolicy, error) {
	p, err := scanPolicy(d.db.QueryRowContext(ctx, d.rebind(`SELECT `+policyColumns+` FROM country_policies WHERE code = ?`), code))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("country %s: %w", code, store.ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("country %s: %w", code, err)
	}
	return p, nil
}

func (d *DB) listPolicies(ctx context.Context, where string, args ...any) ([]store.CountryPolicy, error) {
	return queryAll(ctx, d.db, d.rebind(`SELECT `+policyColumns+` FROM country_policies `+where+` ORDER BY code`), "list countries", scanPolicy, args...)
}

// ListCountryPolicies implements store.Billing.
func (d *DB) ListCountryPolicies(ctx context.Context) ([]store.CountryPolicy, error) {
	return d.listPolicies(ctx, "")
}

// CountryPoliciesByCurrency implements store.Billing.
func (d *DB) CountryPoliciesByCurrency(ctx context.Context, currency string) ([]store.CountryPolicy, error) {
	return d.listPolicies(ctx, "WHERE currency = ?", currency)
}

// PutCountryPolicy implements store.Billing.
func (d *DB) PutCountryPolicy(ctx context.Context, p store.CountryPolicy, a store.AuditEntry) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		// Upsert syntax is the same in SQLite (3.24+) and PostgreSQL.
		q := `INSERT INTO country_policies (` + policyColumns + `) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
			ON CONFLICT (code) DO UPDATE SET enabled=excluded.enabled, min_tip=excluded.min_tip, max_tip=excluded.max_tip, launch_at=excluded.launch_at, currency=excluded.currency,
			min_ticket=excluded.min_ticket, max_ticket=excluded.max_ticket, min_sub=excluded.min_sub, max_sub=excluded.max_sub,
			fee_bps=excluded.fee_bps, fee_waived_until=excluded.fee_waived_until, payouts=excluded.payouts, updated_at=excluded.updated_at`
		if _, err := tx.ExecContext(ctx, d.rebind(q), p.Code, b2i(p.Enabled), micros(p.LaunchAt), p.Currency, p.MinTicket, p.MaxTicket,
			p.MinSub, p.MaxSub, p.FeeBPS, micros(p.FeeWaivedUntil), p.Payouts, p.UpdatedAt.UnixMicro(), p.MinTip, p.MaxTip); err != nil {
			return fmt.Errorf("put country %s: %w", p.Code, err)
		}
		return d.audit(ctx, tx, a)
	})
}

// ListAudit implements store.Billing. Newest first.
func (d *DB) ListAudit(ctx context.Context, object string, limit int) ([]store.AuditEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q := `SELECT id, object, actor, at, before_json, after_json FROM audit_log`
	var args []any
	if object != "" {
		q += ` WHERE object = ?`
		args = append(args, object)
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	return queryAll(ctx, d.db, d.rebind(q), "list audit", func(row scanner) (store.AuditEntry, error) {
		var a store.AuditEntry
		var at int64
		err := row.Scan(&a.ID, &a.Object, &a.Actor, &at, &a.Before, &a.After)
		a.At = time.UnixMicro(at).UTC()
		return a, err
	}, args...)
}

const payoutColumns = `id, creator_id, currency, amount, reference, paid_at, recorded_by, created_at`

func scanPayout(row scanner) (store.Payout, error) {
	var p store.Payout
	var paid, created int64
	err := row.Scan(&p.ID, &p.CreatorID, &p.Currency, &p.Amount, &p.Reference, &paid, &p.RecordedBy, &created)
	p.PaidAt, p.CreatedAt = time.UnixMicro(paid).UTC(), time.UnixMicro(created).UTC()
	return p, err
}

// RecordPayout implements store.Billing.
func (d *DB) RecordPayout(ctx context.Context, p store.Payout, a store.AuditEntry) (store.Payout, bool, error) {
	created := false
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO payouts (`+payoutColumns+`) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (creator_id, reference) DO NOTHING`),
			p.ID, p.CreatorID, p.Currency, p.Amount, p.Reference, p.PaidAt.UnixMicro(), p.RecordedBy, p.CreatedAt.UnixMicro())
		if err != nil {
			return fmt.Errorf("record payout: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			p, err = scanPayout(tx.QueryRowContext(ctx, d.rebind(`SELECT `+payoutColumns+` FROM payouts WHERE creator_id = ? AND reference = ?`),
				p.CreatorID, p.Reference))
			return err
		}
		created = true
		return d.audit(ctx, tx, a)
	})
	return p, created, err
}

// Payouts implements store.Billing.
func (d *DB) Payouts(ctx context.Context, creatorID string) ([]store.Payout, error) {
	q, args := `SELECT `+payoutColumns+` FROM payouts`, []any{}
	if creatorID != "" {
		q += ` WHERE creator_id = ?`
		args = append(args, creatorID)
	}
	return queryAll(ctx, d.db, d.rebind(q+` ORDER BY paid_at, id`), "payouts", scanPayout, args...)
}

func (d *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // after a commit: sql.ErrTxDone, nothing to undo
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func setCreatorPayment(ctx context.Context, d *DB, q querier, creatorID string, p store.CreatorPayment) error {
	res, err := q.ExecContext(ctx, d.rebind(`UPDATE creators SET country = ?, stripe_account_id = ?, charges_enabled = ?, payouts_enabled = ?, stripe_product_id = ? WHERE id = ?`),
		p.Country, p.StripeAccountID, b2i(p.ChargesEnabled), b2i(p.PayoutsEnabled), p.StripeProductID, creatorID)
	if err != nil {
		return fmt.Errorf("set creator payment: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("creator %s: %w", creatorID, store.ErrNotFound)
	}
	return nil
}

func creatorPayment(ctx context.Context, d *DB, q querier, creatorID string) (store.CreatorPayment, error) {
	var p store.CreatorPayment
	var ch, po int
	err := q.QueryRowContext(ctx, d.rebind(`SELECT country, stripe_account_id, charges_enabled, payouts_enabled, stripe_product_id FROM creators WHERE id = ?`), creatorID).
		Scan(&p.Country, &p.StripeAccountID, &ch, &po, &p.StripeProductID)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("creator %s: %w", creatorID, store.ErrNotFound)
	}
	p.ChargesEnabled, p.PayoutsEnabled = ch == 1, po == 1
	return p, err
}

func creatorByStripeAccount(ctx context.Context, d *DB, q querier, account string) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, d.rebind(`SELECT id FROM creators WHERE stripe_account_id = ? AND stripe_account_id <> ''`), account).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("stripe account %s: %w", account, store.ErrNotFound)
	}
	return id, err
}

// SetCreatorPayment implements store.Billing.
func (d *DB) SetCreatorPayment(ctx context.Context, creatorID string, p store.CreatorPayment) error {
	return setCreatorPayment(ctx, d, d.db, creatorID, p)
}

// CreatorPayment implements store.Billing.
func (d *DB) CreatorPayment(ctx context.Context, creatorID string) (store.CreatorPayment, error) {
	return creatorPayment(ctx, d, d.db, creatorID)
}

// CreatorByStripeAccount implements store.Billing.
func (d *DB) CreatorByStripeAccount(ctx context.Context, account string) (string, error) {
	return creatorByStripeAccount(ctx, d, d.db, account)
}

// SetStreamAccess implements store.Billing.
func (d *DB) SetStreamAccess(ctx context.Context, streamID string, mode store.AccessMode) error {
	res, err := d.exec(ctx, `UPDATE streams SET access_mode = ? WHERE id = ?`, string(mode), streamID)
	if err != nil {
		return fmt.Errorf("set stream access: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("stream %s: %w", streamID, store.ErrNotFound)
	}
	return nil
}

// PutStreamPrices implements store.Billing: the stream's prices become exactly prices.
func (d *DB) PutStreamPrices(ctx context.Context, streamID string, prices []store.Price) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, d.rebind(`DELETE FROM stream_prices WHERE stream_id = ?`), streamID); err != nil {
			return fmt.Errorf("put stream prices: %w", err)
		}
		for _, p := range prices {
			if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO stream_prices (stream_id, currency, amount) VALUES (?,?,?)`), streamID, p.Currency, p.Amount); err != nil {
				if d.isForeignKeyViolation(err) {
					return fmt.Errorf("stream %s: %w", streamID, store.ErrNotFound)
				}
				return fmt.Errorf("put stream prices: %w", err)
			}
		}
		return nil
	})
}

func (d *DB) prices(ctx context.Context, q string, id string) ([]store.Price, error) {
	return queryAll(ctx, d.db, d.rebind(q), "prices", func(row scanner) (store.Price, error) {
		var p store.Price
		err := row.Scan(&p.Currency, &p.Amount, &p.StripePriceID)
		return p, err
	}, id)
}

// StreamPrices implements store.Billing.
func (d *DB) StreamPrices(ctx context.Context, streamID string) ([]store.Price, error) {
	return d.prices(ctx, `SELECT currency, amount, '' FROM stream_prices WHERE stream_id = ? ORDER BY currency`, streamID)
}

// PutSubscriptionPrice implements store.Billing: one monthly price per currency.
func (d *DB) PutSubscriptionPrice(ctx context.Context, creatorID string, p store.Price) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, d.rebind(`DELETE FROM subscription_prices WHERE creator_id = ? AND currency = ?`), creatorID, p.Currency); err != nil {
			return fmt.Errorf("put subscription price: %w", err)
		}
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO subscription_prices (creator_id, currency, amount, stripe_price_id) VALUES (?,?,?,?)`),
			creatorID, p.Currency, p.Amount, p.StripePriceID); err != nil {
			if d.isForeignKeyViolation(err) {
				return fmt.Errorf("creator %s: %w", creatorID, store.ErrNotFound)
			}
			return fmt.Errorf("put subscription price: %w", err)
		}
		return nil
	})
}

// SubscriptionPrices implements store.Billing.
func (d *DB) SubscriptionPrices(ctx context.Context, creatorID string) ([]store.Price, error) {
	return d.prices(ctx, `SELECT currency, amount, stripe_price_id FROM subscription_prices WHERE creator_id = ? ORDER BY currency`, creatorID)
}

const checkoutColumns = `id, stripe_session_id, viewer_id, kind, stream_id, creator_id, country, currency, amount, fee_bps, fee, payouts, state, url, created_at, recipient_id, message, promo_code_id, discount`

// CreateCheckout implements store.Billing.
func (d *DB) CreateCheckout(ctx context.Context, c store.Checkout) error {
	_, err := d.exec(ctx, `INSERT INTO checkouts (`+checkoutColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		c.ID, c.StripeSessionID, c.ViewerID, c.Kind, c.StreamID, c.CreatorID, c.Country, c.Currency, c.Amount, c.FeeBPS, c.Fee,
		c.Payouts, c.State, c.URL, c.CreatedAt.UnixMicro(), c.RecipientID, c.Message, c.PromoCodeID, c.Discount)
	if err != nil {
		return fmt.Errorf("create checkout: %w", err)
	}
	return nil
}

func checkout(ctx context.Context, d *DB, q querier, id string) (store.Checkout, error) {
	var c store.Checkout
	var created int64
	err := q.QueryRowContext(ctx, d.rebind(`SELECT `+checkoutColumns+` FROM checkouts WHERE id = ?`), id).Scan(&c.ID, &c.StripeSessionID,
		&c.ViewerID, &c.Kind, &c.StreamID, &c.CreatorID, &c.Country, &c.Currency, &c.Amount, &c.FeeBPS, &c.Fee, &c.Payouts, &c.State, &c.URL, &created,
		&c.RecipientID, &c.Message, &c.PromoCodeID, &c.Discount)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("checkout %s: %w", id, store.ErrNotFound)
	}
	c.CreatedAt = time.UnixMicro(created).UTC()
	return c, err
}

// Checkout implements store.Billing.
func (d *DB) Checkout(ctx context.Context, id string) (store.Checkout, error) {
	return checkout(ctx, d, d.db, id)
}

const entColumns = `id, viewer_id, kind, stream_id, creator_id, source, state, revoked_reason, expires_at, created_at, updated_at`

func scanEnt(row scanner) (store.Entitlement, error) {
	var e store.Entitlement
	var exp sql.NullInt64
	var created, updated int64
	err := row.Scan(&e.ID, &e.ViewerID, &e.Kind, &e.StreamID, &e.CreatorID, &e.Source, &e.State, &e.RevokedReason, &exp, &created, &updated)
	e.ExpiresAt = fromMicros(exp)
	e.CreatedAt, e.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return e, err
}

// ActiveEntitlement implements store.Billing.
func (d *DB) ActiveEntitlement(ctx context.Context, viewerID, kind, streamID, creatorID string, now time.Time) (store.Entitlement, error) {
	q := `SELECT ` + entColumns + ` FROM entitlements WHERE viewer_id = ? AND state = 'active' AND kind = 'ticket' AND stream_id = ? ORDER BY created_at LIMIT 1`
	args := []any{viewerID, streamID}
	if kind == store.KindSubscription {
		q = `SELECT ` + entColumns + ` FROM entitlements WHERE viewer_id = ? AND state = 'active' AND kind = 'subscription' AND creator_id = ?
			AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at LIMIT 1`
		args = []any{viewerID, creatorID, now.UnixMicro()}
	}
	e, err := scanEnt(d.db.QueryRowContext(ctx, d.rebind(q), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("entitlement of %s: %w", viewerID, store.ErrNotFound)
	}
	return e, err
}

// RevokedEntitlements implements store.Billing.
func (d *DB) RevokedEntitlements(ctx context.Context, ids []string) ([]store.Entitlement, error) {
	out := []store.Entitlement{}
	if len(ids) == 0 {
		return out, nil
	}
	const batch = 500
	for len(ids) > 0 {
		n := min(batch, len(ids))
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		q := `SELECT ` + entColumns + ` FROM entitlements WHERE state = 'revoked' AND id IN (?` + strings.Repeat(",?", n-1) + `)`
		rows, err := d.db.QueryContext(ctx, d.rebind(q), args...)
		if err != nil {
			return nil, fmt.Errorf("revoked entitlements: %w", err)
		}
		for rows.Next() {
			e, err := scanEnt(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	return out, nil
}

// PendingRevocations implements store.Billing.
func (d *DB) PendingRevocations(ctx context.Context, limit int) ([]store.Revocation, error) {
	return queryAll(ctx, d.db, d.rebind(`SELECT id, entitlement_id, reason, created_at FROM revocation_outbox
		WHERE delivered_at IS NULL ORDER BY created_at LIMIT ?`), "pending revocations", func(row scanner) (store.Revocation, error) {
		var r store.Revocation
		var created int64
		err := row.Scan(&r.ID, &r.EntitlementID, &r.Reason, &created)
		r.CreatedAt = time.UnixMicro(created).UTC()
		return r, err
	}, limit)
}

// RevocationDelivered implements store.Billing.
func (d *DB) RevocationDelivered(ctx context.Context, id string, at time.Time) error {
	_, err := d.db.ExecContext(ctx, d.rebind(`UPDATE revocation_outbox SET delivered_at = ? WHERE id = ?`), at.UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("mark revocation delivered: %w", err)
	}
	return nil
}

// EntitlementsOfStream implements store.Billing.
func (d *DB) EntitlementsOfStream(ctx context.Context, streamID string) ([]store.Entitlement, error) {
	return queryAll(ctx, d.db, d.rebind(`SELECT `+entColumns+` FROM entitlements WHERE stream_id = ? ORDER BY created_at`), "entitlements of stream", scanEnt, streamID)
}

const ledgerColumns = `id, kind, creator_id, stream_id, viewer_id, country, currency, gross, fee, net, payouts, stripe_event_id, stripe_object, payment_intent, created_at, discount, usd_gross, usd_net, usd_rate, usd_rate_source, access_source`

func scanLedger(row scanner) (store.LedgerEntry, error) {
	var e store.LedgerEntry
	var created int64
	err := row.Scan(&e.ID, &e.Kind, &e.CreatorID, &e.StreamID, &e.ViewerID, &e.Country, &e.Currency, &e.Gross, &e.Fee, &e.Net,
		&e.Payouts, &e.StripeEventID, &e.StripeObject, &e.PaymentIntent, &created, &e.Discount, &e.USDGross, &e.USDNet, &e.USDRate, &e.USDRateSource, &e.AccessSource)
	e.CreatedAt = time.UnixMicro(created).UTC()
	return e, err
}

func (d *DB) ledger(ctx context.Context, where string, args ...any) ([]store.LedgerEntry, error) {
	return queryAll(ctx, d.db, d.rebind(`SELECT `+ledgerColumns+` FROM ledger `+where+` ORDER BY created_at, id`), "ledger", scanLedger, args...)
}

// Ledger implements store.Billing.
func (d *DB) Ledger(ctx context.Context, creatorID string) ([]store.LedgerEntry, error) {
	return d.ledger(ctx, `WHERE creator_id = ?`, creatorID)
}

// ManualLedger implements store.Billing.
func (d *DB) ManualLedger(ctx context.Context) ([]store.LedgerEntry, error) {
	return d.ledger(ctx, `WHERE payouts = 'manual'`)
}

// ApplyEvent implements store.Billing. The event row and apply's writes commit together,
// so an event is processed exactly once even when Stripe delivers it to several nodes at
// the same time: the loser of the race fails on the primary key and rolls back.
func (d *DB) ApplyEvent(ctx context.Context, eventID, eventType string, apply func(store.BillingTx) error) (bool, error) {
	applied := false
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		q := `INSERT INTO stripe_events (id, type, processed_at) VALUES (?,?,?) ON CONFLICT DO NOTHING`
		res, err := tx.ExecContext(ctx, d.rebind(q), eventID, eventType, time.Now().UnixMicro())
		if err != nil {
			return fmt.Errorf("record event %s: %w", eventID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // seen before
		}
		if err := apply(&billingTx{ctx: ctx, d: d, tx: tx}); err != nil {
			return err
		}
		applied = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return applied, nil
}

// EventApplied implements store.Billing.
func (d *DB) EventApplied(ctx context.Context, eventID string) (bool, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, d.rebind(`SELECT COUNT(*) FROM stripe_events WHERE id = ?`), eventID).Scan(&n); err != nil {
		return false, fmt.Errorf("event %s: %w", eventID, err)
	}
	return n > 0, nil
}

type billingTx struct {
	ctx context.Context
	d   *DB
	tx  *sql.Tx
}

func (t *billingTx) exec(q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(t.ctx, t.d.rebind(q), args...)
}

func (t *billingTx) Checkout(id string) (store.Checkout, error) {
	return checkout(t.ctx, t.d, t.tx, id)
}

func (t *billingTx) SetCheckoutState(id, state string) error {
	_, err := t.exec(`UPDATE checkouts SET state = ? WHERE id = ?`, state, id)
	return err
}

func (t *billingTx) EntitlementBySource(source string) (store.Entitlement, error) {
	e, err := scanEnt(t.tx.QueryRowContext(t.ctx, t.d.rebind(`SELECT `+entColumns+` FROM entitlements WHERE source = ?`), source))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("entitlement %s: %w", source, store.ErrNotFound)
	}
	return e, err
}

func (t *billingTx) insertEnt(e store.Entitlement) (bool, error) {
	q := `INSERT INTO entitlements (` + entColumns + `) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (source) DO NOTHING`
	res, err := t.exec(q, e.ID, e.ViewerID, e.Kind, e.StreamID, e.CreatorID, e.Source, e.State, e.RevokedReason,
		micros(e.ExpiresAt), e.CreatedAt.UnixMicro(), e.UpdatedAt.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("insert entitlement: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (t *billingTx) GrantEntitlement(e store.Entitlement) (bool, error) {
	e.State = store.EntActive
	inserted, err := t.insertEnt(e)
	if err != nil || inserted {
		return inserted, err
	}
	cur, err := t.EntitlementBySource(e.Source)
	if err != nil {
		return false, err
	}
	if cur.State == store.EntRevoked && cur.ViewerID == "" {
		// A placeholder left by a revocation that arrived first: fill in who and what,
		// keep it revoked.
		_, err := t.exec(`UPDATE entitlements SET viewer_id = ?, kind = ?, stream_id = ?, creator_id = ?, updated_at = ? WHERE source = ?`,
			e.ViewerID, e.Kind, e.StreamID, e.CreatorID, e.UpdatedAt.UnixMicro(), e.Source)
		return false, err
	}
	return cur.State == store.EntActive, nil
}

func (t *billingTx) RevokeEntitlement(source, reason string, at time.Time) (store.Entitlement, bool, error) {
	res, err := t.exec(`UPDATE entitlements SET state = 'revoked', revoked_reason = ?, updated_at = ? WHERE source = ? AND state = 'active'`,
		reason, at.UnixMicro(), source)
	if err != nil {
		return store.Entitlement{}, false, fmt.Errorf("revoke entitlement: %w", err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		placeholder := store.Entitlement{ID: store.NewID("ent"), Source: source, State: store.EntRevoked, RevokedReason: reason,
			CreatedAt: at, UpdatedAt: at}
		if _, err := t.insertEnt(placeholder); err != nil {
			return store.Entitlement{}, false, err
		}
	}
	e, err := t.EntitlementBySource(source)
	return e, n == 1, err
}

func (t *billingTx) ReopenEntitlement(source string, until, at time.Time) (bool, error) {
	res, err := t.exec(`UPDATE entitlements SET state = 'active', revoked_reason = '', expires_at = ?, updated_at = ?
		WHERE source = ? AND state = 'revoked' AND revoked_reason IN ('refunded', 'dispute lost') AND viewer_id <> ''`,
		until.UnixMicro(), at.UnixMicro(), source)
	if err != nil {
		return false, fmt.Errorf("reopen entitlement: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (t *billingTx) QueueRevocation(entitlementID, reason string, at time.Time) error {
	_, err := t.exec(`INSERT INTO revocation_outbox (id, entitlement_id, reason, created_at) VALUES (?, ?, ?, ?)`,
		store.NewID("rvk"), entitlementID, reason, at.UnixMicro())
	if err != nil {
		return fmt.Errorf("queue revocation: %w", err)
	}
	return nil
}

func (t *billingTx) ExtendEntitlement(source string, until, at time.Time) (store.Entitlement, error) {
	_, err := t.exec(`UPDATE entitlements SET expires_at = ?, updated_at = ? WHERE source = ? AND state = 'active' AND (expires_at IS NULL OR expires_at < ?)`,
		until.UnixMicro(), at.UnixMicro(), source, until.UnixMicro())
	if err != nil {
		return store.Entitlement{}, fmt.Errorf("extend entitlement: %w", err)
	}
	return t.EntitlementBySource(source)
}

func (t *billingTx) AddLedger(e store.LedgerEntry) (bool, error) {
	return addLedger(t.ctx, t.d, t.tx, e)
}

func addLedger(ctx context.Context, d *DB, q querier, e store.LedgerEntry) (bool, error) {
	const ins = `INSERT INTO ledger (` + ledgerColumns + `) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (kind, stripe_object) DO NOTHING`
	if e.ID == "" {
		e.ID = store.NewID("led")
	}
	res, err := q.ExecContext(ctx, d.rebind(ins), e.ID, e.Kind, e.CreatorID, e.StreamID, e.ViewerID, e.Country, e.Currency, e.Gross, e.Fee, e.Net,
		e.Payouts, e.StripeEventID, e.StripeObject, e.PaymentIntent, e.CreatedAt.UnixMicro(), e.Discount, e.USDGross, e.USDNet, e.USDRate, e.USDRateSource, e.AccessSource)
	if err != nil {
		return false, fmt.Errorf("add ledger entry: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (t *billingTx) SaleByPaymentIntent(pi string) (store.LedgerEntry, error) {
	e, err := scanLedger(t.tx.QueryRowContext(t.ctx, t.d.rebind(`SELECT `+ledgerColumns+` FROM ledger WHERE kind IN ('sale', 'tip') AND payment_intent = ? ORDER BY created_at LIMIT 1`), pi))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("sale of %s: %w", pi, store.ErrNotFound)
	}
	return e, err
}

func (t *billingTx) TakenBack(pi string) (refunded, disputed int64, err error) {
	err = t.tx.QueryRowContext(t.ctx, t.d.rebind(`SELECT COALESCE(SUM(CASE WHEN kind = 'refund' THEN -gross END), 0),
		COALESCE(SUM(CASE WHEN kind = 'dispute_lost' THEN -gross END), 0) FROM ledger WHERE payment_intent = ?`), pi).Scan(&refunded, &disputed)
	return refunded, disputed, err
}

func (t *billingTx) CountryPolicy(code string) (store.CountryPolicy, error) {
	p, err := scanPolicy(t.tx.QueryRowContext(t.ctx, t.d.rebind(`SELECT `+policyColumns+` FROM country_policies WHERE code = ?`), code))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("country %s: %w", code, store.ErrNotFound)
	}
	return p, err
}

func (t *billingTx) AddPendingRefund(pi, refundID string, amount int64, eventID string, at time.Time) error {
	q := `INSERT INTO pending_refunds (payment_intent, refund_id, amount, event_id, at) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING`
	_, err := t.exec(q, pi, refundID, amount, eventID, at.UnixMicro())
	return err
}

func (t *billingTx) TakePendingRefunds(pi string) ([]store.PendingRefund, error) {
	rows, err := t.tx.QueryContext(t.ctx, t.d.rebind(`SELECT payment_intent, refund_id, amount, event_id, at FROM pending_refunds WHERE payment_intent = ?`), pi)
	if err != nil {
		return nil, err
	}
	var out []store.PendingRefund
	for rows.Next() {
		var p store.PendingRefund
		var at int64
		if err := rows.Scan(&p.PaymentIntent, &p.RefundID, &p.Amount, &p.EventID, &at); err != nil {
			rows.Close()
			return nil, err
		}
		p.At = time.UnixMicro(at).UTC()
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	_, err = t.exec(`DELETE FROM pending_refunds WHERE payment_intent = ?`, pi)
	return out, err
}

func (t *billingTx) SetCreatorPayment(creatorID string, p store.CreatorPayment) error {
	return setCreatorPayment(t.ctx, t.d, t.tx, creatorID, p)
}

func (t *billingTx) CreatorByStripeAccount(account string) (string, error) {
	return creatorByStripeAccount(t.ctx, t.d, t.tx, account)
}

func (t *billingTx) CreatorPayment(creatorID string) (store.CreatorPayment, error) {
	return creatorPayment(t.ctx, t.d, t.tx, creatorID)
}
