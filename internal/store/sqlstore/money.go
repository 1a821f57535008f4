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

const promoColumns = `id, code, creator_id, stream_id, percent_off, amount_off, currency, expires_at, max_redemptions, reserved, redeemed,
	stripe_coupon_id, created_by, created_at`

func scanPromo(row scanner) (store.PromoCode, error) {
	var p store.PromoCode
	var exp sql.NullInt64
	var created int64
	err := row.Scan(&p.ID, &p.Code, &p.CreatorID, &p.StreamID, &p.PercentOff, &p.AmountOff, &p.Currency, &exp, &p.MaxRedemptions,
		&p.Reserved, &p.Redeemed, &p.StripeCouponID, &p.CreatedBy, &created)
	p.ExpiresAt = fromMicros(exp)
	p.CreatedAt = time.UnixMicro(created).UTC()
	return p, err
}

// CreatePromoCode implements store.Money.
func (d *DB) CreatePromoCode(ctx context.Context, p store.PromoCode) error {
	_, err := d.exec(ctx, `INSERT INTO promo_codes (`+promoColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		p.ID, p.Code, p.CreatorID, p.StreamID, p.PercentOff, p.AmountOff, p.Currency, micros(p.ExpiresAt), p.MaxRedemptions,
		p.Reserved, p.Redeemed, p.StripeCouponID, p.CreatedBy, p.CreatedAt.UnixMicro())
	if d.isUniqueViolation(err) {
		return fmt.Errorf("promo code %s: %w", p.Code, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create promo code: %w", err)
	}
	return nil
}

func (d *DB) promo(ctx context.Context, where string, arg any) (store.PromoCode, error) {
	p, err := scanPromo(d.db.QueryRowContext(ctx, d.rebind(`SELECT `+promoColumns+` FROM promo_codes WHERE `+where), arg))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("promo code %v: %w", arg, store.ErrNotFound)
	}
	return p, err
}

// PromoCode implements store.Money.
func (d *DB) PromoCode(ctx context.Context, id string) (store.PromoCode, error) {
	return d.promo(ctx, `id = ?`, id)
}

// PromoCodeByCode implements store.Money.
func (d *DB) PromoCodeByCode(ctx context.Context, code string) (store.PromoCode, error) {
	return d.promo(ctx, `code = ?`, strings.ToUpper(code))
}

// PromoCodes implements store.Money.
func (d *DB) PromoCodes(ctx context.Context, creatorID string) ([]store.PromoCode, error) {
	q, args := `SELECT `+promoColumns+` FROM promo_codes ORDER BY created_at`, []any{}
	if creatorID != "" {
		q, args = `SELECT `+promoColumns+` FROM promo_codes WHERE creator_id = ? ORDER BY created_at`, []any{creatorID}
	}
	return queryAll(ctx, d.db, d.rebind(q), "promo codes", scanPromo, args...)
}

// ReservePromoCode implements store.Money. The cap is held by the UPDATE's own condition:
// PostgreSQL re-checks it on the row it locked, SQLite runs one writer at a time.
func (d *DB) ReservePromoCode(ctx context.Context, id string, now time.Time) (bool, error) {
	res, err := d.exec(ctx, `UPDATE promo_codes SET reserved = reserved + 1
		WHERE id = ? AND reserved < max_redemptions AND (expires_at IS NULL OR expires_at > ?)`, id, now.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("reserve promo code: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReleasePromoCode implements store.Money.
func (d *DB) ReleasePromoCode(ctx context.Context, id string) error {
	return releasePromo(ctx, d, d.db, id)
}

func releasePromo(ctx context.Context, d *DB, q querier, id string) error {
	if _, err := q.ExecContext(ctx, d.rebind(`UPDATE promo_codes SET reserved = reserved - 1 WHERE id = ? AND reserved > redeemed`), id); err != nil {
		return fmt.Errorf("release promo code: %w", err)
	}
	return nil
}

const tipColumns = `id, checkout_id, stream_id, creator_id, viewer_id, currency, amount, message, payment_intent, refunded, created_at`

// TipsSince implements store.Money.
func (d *DB) TipsSince(ctx context.Context, streamID string, since time.Time, limit int) ([]store.Tip, error) {
	if limit <= 0 {
		limit = 100
	}
	return queryAll(ctx, d.db, d.rebind(`SELECT `+tipColumns+` FROM tips WHERE stream_id = ? AND created_at >= ?
		ORDER BY created_at, id LIMIT ?`), "tips", scanTip, streamID, since.UnixMicro(), limit)
}

func scanTip(row scanner) (store.Tip, error) {
	var t store.Tip
	var refunded int
	var created int64
	err := row.Scan(&t.ID, &t.CheckoutID, &t.StreamID, &t.CreatorID, &t.ViewerID, &t.Currency, &t.Amount, &t.Message,
		&t.PaymentIntent, &refunded, &created)
	t.Refunded, t.CreatedAt = refunded == 1, time.UnixMicro(created).UTC()
	return t, err
}

// LedgerBetween implements store.Money.
func (d *DB) LedgerBetween(ctx context.Context, from, to time.Time) ([]store.LedgerEntry, error) {
	return d.ledger(ctx, `WHERE created_at >= ? AND created_at < ?`, from.UnixMicro(), to.UnixMicro())
}

// CreatorCountries implements store.Money.
func (d *DB) CreatorCountries(ctx context.Context) (map[string]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, country FROM creators`)
	if err != nil {
		return nil, fmt.Errorf("creator countries: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, country string
		if err := rows.Scan(&id, &country); err != nil {
			return nil, fmt.Errorf("creator countries: %w", err)
		}
		out[id] = country
	}
	return out, rows.Err()
}

// SeedLedger implements store.Money.
func (d *DB) SeedLedger(ctx context.Context, entries []store.LedgerEntry) (int, error) {
	added := 0
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		added = 0
		for _, e := range entries {
			ok, err := addLedger(ctx, d, tx, e)
			if err != nil {
				return err
			}
			if ok {
				added++
			}
		}
		return nil
	})
	return added, err
}

// PutUSDRates implements store.Money.
func (d *DB) PutUSDRates(ctx context.Context, rates []store.USDRate) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		for _, r := range rates {
			if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO usd_rates (currency, day, rate) VALUES (?,?,?)
				ON CONFLICT (currency, day) DO UPDATE SET rate = excluded.rate`), r.Currency, r.Day, r.Rate); err != nil {
				return fmt.Errorf("put usd rate: %w", err)
			}
		}
		return nil
	})
}

// USDRates implements store.Money.
func (d *DB) USDRates(ctx context.Context) ([]store.USDRate, error) {
	return queryAll(ctx, d.db, `SELECT currency, day, rate FROM usd_rates ORDER BY currency, day`, "usd rates", func(row scanner) (store.USDRate, error) {
		var r store.USDRate
		err := row.Scan(&r.Currency, &r.Day, &r.Rate)
		return r, err
	})
}

// UnconvertedLedger implements store.Money.
func (d *DB) UnconvertedLedger(ctx context.Context, currencies []string) ([]store.LedgerEntry, error) {
	where, args := `WHERE usd_rate = ''`, []any{}
	if len(currencies) > 0 {
		where += ` AND currency IN (?` + strings.Repeat(`,?`, len(currencies)-1) + `)`
		for _, c := range currencies {
			args = append(args, c)
		}
	}
	return d.ledger(ctx, where, args...)
}

// ConvertLedger implements store.Money.
func (d *DB) ConvertLedger(ctx context.Context, entries []store.LedgerEntry, audit func(int) store.AuditEntry) (int, error) {
	n := 0
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, e := range entries {
			res, err := tx.ExecContext(ctx, d.rebind(`UPDATE ledger SET usd_gross = ?, usd_net = ?, usd_rate = ?, usd_rate_source = ? WHERE id = ? AND usd_rate = ''`),
				e.USDGross, e.USDNet, e.USDRate, e.USDRateSource, e.ID)
			if err != nil {
				return fmt.Errorf("convert ledger entry: %w", err)
			}
			k, _ := res.RowsAffected()
			n += int(k)
		}
		if n == 0 {
			return nil
		}
		return d.audit(ctx, tx, audit(n))
	})
	return n, err
}

func (t *billingTx) USDRate(currency, day string) (string, bool, error) {
	var rate string
	err := t.tx.QueryRowContext(t.ctx, t.d.rebind(`SELECT rate FROM usd_rates WHERE currency = ? AND day <= ? ORDER BY day DESC LIMIT 1`),
		currency, day).Scan(&rate)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return rate, err == nil, err
}

func (t *billingTx) RedeemPromoCode(id string) error {
	_, err := t.exec(`UPDATE promo_codes SET redeemed = redeemed + 1 WHERE id = ? AND redeemed < reserved`, id)
	if err != nil {
		return fmt.Errorf("redeem promo code: %w", err)
	}
	return nil
}

func (t *billingTx) ReleasePromoCode(id string) error { return releasePromo(t.ctx, t.d, t.tx, id) }

func (t *billingTx) AddTip(tp store.Tip) (bool, error) {
	res, err := t.exec(`INSERT INTO tips (`+tipColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (checkout_id) DO NOTHING`,
		tp.ID, tp.CheckoutID, tp.StreamID, tp.CreatorID, tp.ViewerID, tp.Currency, tp.Amount, tp.Message, tp.PaymentIntent,
		b2i(tp.Refunded), tp.CreatedAt.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("add tip: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (t *billingTx) MarkTipRefunded(pi string) error {
	_, err := t.exec(`UPDATE tips SET refunded = 1 WHERE payment_intent = ?`, pi)
	return err
}

func subscriptionFee(ctx context.Context, d *DB, q querier, sub string) (int, bool, error) {
	var bps int
	err := q.QueryRowContext(ctx, d.rebind(`SELECT fee_bps FROM subscription_fees WHERE subscription_id = ?`), sub).Scan(&bps)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return bps, err == nil, err
}

// SubscriptionFeeOf implements store.Money.
func (d *DB) SubscriptionFeeOf(ctx context.Context, sub string) (int, bool, error) {
	return subscriptionFee(ctx, d, d.db, sub)
}

func (t *billingTx) SubscriptionFee(sub string) (int, bool, error) {
	return subscriptionFee(t.ctx, t.d, t.tx, sub)
}

func (t *billingTx) SetSubscriptionFee(sub, checkoutID string, bps int, at time.Time) error {
	_, err := t.exec(`INSERT INTO subscription_fees (subscription_id, checkout_id, fee_bps, updated_at) VALUES (?,?,?,?)
		ON CONFLICT (subscription_id) DO UPDATE SET fee_bps = excluded.fee_bps, updated_at = excluded.updated_at`, sub, checkoutID, bps, at.UnixMicro())
	if err != nil {
		return fmt.Errorf("set subscription fee: %w", err)
	}
	return nil
}

func (t *billingTx) EmitEvent(ev store.OutboundEvent) error { return emitEvent(t.ctx, t.d, t.tx, ev) }
