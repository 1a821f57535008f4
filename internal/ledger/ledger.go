// Package ledger is the money already taken, read and kept in order: a creator's
// earnings, the statements and payouts of creators paid by hand, the growth report, the
// history imported from before livegate, and the US dollar value of every entry. It
// never talks to Stripe: what Stripe reports is booked by package billing; this package
// reads and corrects what was booked.
package ledger

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/store"
)

// Store is the durable data the books read and write.
type Store interface {
	Creator(ctx context.Context, id string) (store.Creator, error)
	CountryPolicy(ctx context.Context, code string) (store.CountryPolicy, error)

	Ledger(ctx context.Context, creatorID string) ([]store.LedgerEntry, error)
	ManualLedger(ctx context.Context) ([]store.LedgerEntry, error)
	LedgerBetween(ctx context.Context, from, to time.Time) ([]store.LedgerEntry, error)
	CreatorCountries(ctx context.Context) (map[string]string, error)
	SeedLedger(ctx context.Context, entries []store.LedgerEntry) (added int, err error)

	RecordPayout(ctx context.Context, p store.Payout, audit store.AuditEntry) (rec store.Payout, created bool, err error)
	Payouts(ctx context.Context, creatorID string) ([]store.Payout, error)

	PutUSDRates(ctx context.Context, rates []store.USDRate) error
	USDRates(ctx context.Context) ([]store.USDRate, error)
	UnconvertedLedger(ctx context.Context, currencies []string) ([]store.LedgerEntry, error)
	ConvertLedger(ctx context.Context, entries []store.LedgerEntry, audit func(converted int) store.AuditEntry) (int, error)
}

// Config sets the books up.
type Config struct {
	// USDRates are the --usd-rates file's rates: what converts an entry when the
	// operator's own table (PUT /v1/admin/usd-rates) has none for its currency and day.
	USDRates *money.RateTable
	Logger   *slog.Logger
}

// Books is the ledger's reporting side.
type Books struct {
	st  Store
	cfg Config
	log *slog.Logger
	usd *USD
}

// New returns the books kept in st.
func New(st Store, cfg Config) *Books {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Books{st: st, cfg: cfg, log: cfg.Logger, usd: NewUSD(cfg.Logger)}
}

// PayoutsOf says how a creator is paid: Stripe Connect, or manually by the operator.
func (s *Books) PayoutsOf(ctx context.Context, c store.Creator) countries.Payouts {
	return PayoutsOf(ctx, s.st, c)
}

// PolicyReader reads a country's policy.
type PolicyReader interface {
	CountryPolicy(ctx context.Context, code string) (store.CountryPolicy, error)
}

// PayoutsOf is how creator c is paid: their country's rule, Connect by default. Selling
// (which needs a Connect account or not) and the books (which keep manual statements)
// ask the same question here.
func PayoutsOf(ctx context.Context, policies PolicyReader, c store.Creator) countries.Payouts {
	if c.Country != "" {
		if p, err := policies.CountryPolicy(ctx, c.Country); err == nil && p.Payouts != "" {
			return countries.Payouts(p.Payouts)
		}
	}
	return countries.PayoutsConnect
}

// USD fills in ledger entries' US dollar columns. It says once per currency and day that
// a rate is missing, not once per entry.
type USD struct {
	log    *slog.Logger
	noRate sync.Map
}

// NewUSD returns a converter that logs to log.
func NewUSD(log *slog.Logger) *USD { return &USD{log: log} }

// Convert fills in e's dollar columns at r; with no rate they stay empty and the growth
// report counts e as unconverted.
func (u *USD) Convert(e *store.LedgerEntry, r money.Rate) error {
	if r.Value == "" {
		day := e.CreatedAt.Format("2006-01-02")
		if _, said := u.noRate.LoadOrStore(e.Currency+" "+day, true); !said {
			u.log.Warn("no USD rate for ledger entries; the growth report leaves them out (see --usd-rates, PUT /v1/admin/usd-rates)",
				"currency", e.Currency, "day", day)
		}
		return nil
	}
	gross, err1 := money.ToUSDCents(e.Gross, e.Currency, r.Value)
	net, err2 := money.ToUSDCents(e.Net, e.Currency, r.Value)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	e.USDGross, e.USDNet, e.USDRate, e.USDRateSource = gross, net, r.Value, r.Source
	return nil
}
