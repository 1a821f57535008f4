// Package sqlstore implements store.Store on SQL: SQLite (modernc.org/sqlite, pure Go) for
// a single node with no external service, PostgreSQL (pgx) for a fleet. Both share the same
// queries; only placeholders and migrations differ.
package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/livegate/livegate/internal/store"
)

//go:embed migrations
var migrationsFS embed.FS

type dialect int

const (
	sqlite dialect = iota
	postgres
)

// DB is a store.Store backed by database/sql.
type DB struct {
	db      *sql.DB
	dialect dialect
	path    string // SQLite's file
}

var _ store.Store = (*DB)(nil)

// Open connects to PostgreSQL when url starts with postgres:// or postgresql://, and opens
// (creating if needed) the SQLite database file PATH of sqlite:PATH; anything else is
// refused. A SQLite file that fails its integrity check is refused, with its path. It applies every
// migration not yet applied.
func Open(ctx context.Context, url string) (*DB, error) {
	where, err := store.ParseDatabaseURL(url)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	var d *DB
	if where.Postgres {
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		// A database that does not answer is a refusal within seconds, not a request
		// hanging on a dial.
		if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > connectTimeout {
			cfg.ConnectTimeout = connectTimeout
		}
		db := sql.OpenDB(unavailableConnector{Connector: stdlib.GetConnector(*cfg), health: &health{}})
		db.SetMaxOpenConns(20)
		d = &DB{db: db, dialect: postgres}
	} else {
		if dir := filepath.Dir(where.Path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("create data dir: %w", err)
			}
		}
		// WAL lets readers run beside the writer; immediate transactions take the write
		// lock up front so two writers wait (busy_timeout) instead of deadlocking.
		dsn := "file:" + where.Path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		d = &DB{db: db, dialect: sqlite, path: where.Path}
	}
	if err := d.db.PingContext(ctx); err != nil {
		d.db.Close()
		if d.dialect == sqlite {
			return nil, fmt.Errorf("open %s: %w", d.path, err)
		}
		return nil, fmt.Errorf("connect: %w", err)
	}
	if d.dialect == sqlite {
		if err := d.quickCheck(ctx); err != nil {
			d.db.Close()
			return nil, err
		}
	}
	if err := d.migrate(ctx); err != nil {
		d.db.Close()
		return nil, err
	}
	return d, nil
}

// quickCheck runs SQLite's quick_check: a file damaged in its middle pages opens and
// answers its first queries, and fails later, in the middle of someone's purchase.
func (d *DB) quickCheck(ctx context.Context) error {
	rows, err := d.db.QueryContext(ctx, `PRAGMA quick_check`)
	if err != nil {
		return fmt.Errorf("sqlite %s is damaged: %w", d.path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("sqlite %s is damaged: %w", d.path, err)
		}
		if line != "ok" && len(problems) < 3 {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite %s is damaged: %w", d.path, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlite %s is damaged (restore it from a backup): %s", d.path, strings.Join(problems, "; "))
	}
	return nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

func (d *DB) migrate(ctx context.Context) error {
	const dir = "migrations"
	entries, err := fs.ReadDir(migrationsFS, dir)
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })

	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // after a commit: sql.ErrTxDone, nothing to undo
	if d.dialect == postgres {
		// Several nodes may start at once; one migrates, the others wait.
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(7882)"); err != nil {
			return fmt.Errorf("migrate lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, e := range entries {
		version, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: bad name: %w", e.Name(), err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, d.rebind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), version).Scan(&n); err != nil {
			return fmt.Errorf("migration %d: %w", version, err)
		}
		if n > 0 {
			continue
		}
		body, err := migrationsFS.ReadFile(dir + "/" + e.Name())
		if err != nil {
			return fmt.Errorf("migration %d: %w", version, err)
		}
		if _, err := tx.ExecContext(ctx, d.translate(string(body))); err != nil {
			return fmt.Errorf("migration %d: %w", version, err)
		}
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), version, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("migration %d: %w", version, err)
		}
	}
	return tx.Commit()
}

// translate adapts a migration, written in the SQL both databases share, to the
// dialect's type names.
func (d *DB) translate(ddl string) string {
	if d.dialect != postgres {
		return ddl
	}
	return strings.NewReplacer(" BLOB", " BYTEA").Replace(ddl)
}

// rebind turns ? placeholders into $n for PostgreSQL.
func (d *DB) rebind(q string) string {
	if d.dialect != postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (d *DB) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return d.db.ExecContext(ctx, d.rebind(q), args...)
}

func (d *DB) isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint") || strings.Contains(msg, "SQLSTATE 23505")
}

func (d *DB) isForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "FOREIGN KEY constraint") || strings.Contains(msg, "SQLSTATE 23503")
}

func micros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

// CreateCreator implements store.Store.
func (d *DB) CreateCreator(ctx context.Context, c store.Creator) error {
	_, err := d.exec(ctx, `INSERT INTO creators (id, name, country, created_at) VALUES (?, ?, ?, ?)`, c.ID, c.Name, c.Country, c.CreatedAt.UnixMicro())
	if d.isUniqueViolation(err) {
		return fmt.Errorf("create creator %s: %w", c.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create creator: %w", err)
	}
	return nil
}

// Creator implements store.Store.
func (d *DB) Creator(ctx context.Context, id string) (store.Creator, error) {
	var c store.Creator
	var created int64
	err := d.db.QueryRowContext(ctx, d.rebind(`SELECT id, name, country, created_at FROM creators WHERE id = ?`), id).Scan(&c.ID, &c.Name, &c.Country, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("creator %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("creator %s: %w", id, err)
	}
	c.CreatedAt = time.UnixMicro(created).UTC()
	return c, nil
}

// CreateStream implements store.Store.
func (d *DB) CreateStream(ctx context.Context, s store.Stream) error {
	if s.SessionPolicy == "" {
		s.SessionPolicy = store.PolicyReject
	}
	_, err := d.exec(ctx, `INSERT INTO streams (id, creator_id, title, access_mode, key_hash, state, created_at, started_at, ended_at,
		preview_seconds, max_sessions, session_policy, record, replay_window_seconds, retention_seconds)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.CreatorID, s.Title, string(s.AccessMode), s.KeyHash, string(s.State), s.CreatedAt.UnixMicro(), micros(s.StartedAt), micros(s.EndedAt),
		s.PreviewSeconds, s.MaxSessions, s.SessionPolicy, b2i(s.Record), int64(s.ReplayWindow/time.Second), int64(s.Retention/time.Second))
	switch {
	case d.isUniqueViolation(err):
		return fmt.Errorf("create stream %s: %w", s.ID, store.ErrConflict)
	case d.isForeignKeyViolation(err):
		return fmt.Errorf("create stream: creator %s: %w", s.CreatorID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("create stream: %w", err)
	}
	return nil
}

const streamColumns = `id, creator_id, title, access_mode, key_hash, state, created_at, started_at, ended_at, preview_seconds, max_sessions, session_policy,
	record, replay_window_seconds, retention_seconds`

type scanner interface{ Scan(...any) error }

func scanStream(row scanner) (store.Stream, error) {
	var s store.Stream
	var mode, state string
	var created int64
	var started, ended sql.NullInt64
	var record int
	var window, retention int64
	if err := row.Scan(&s.ID, &s.CreatorID, &s.Title, &mode, &s.KeyHash, &state, &created, &started, &ended,
		&s.PreviewSeconds, &s.MaxSessions, &s.SessionPolicy, &record, &window, &retention); err != nil {
		return s, err
	}
	s.Record = record == 1
	s.ReplayWindow, s.Retention = time.Duration(window)*time.Second, time.Duration(retention)*time.Second
	s.AccessMode = store.AccessMode(mode)
	s.State = store.StreamState(state)
	s.CreatedAt = time.UnixMicro(created).UTC()
	s.StartedAt = fromMicros(started)
	s.EndedAt = fromMicros(ended)
	return s, nil
}

// Stream implements store.Store.
func (d *DB) Stream(ctx context.Context, id string) (store.Stream, error) {
	s, err := scanStream(d.db.QueryRowContext(ctx, d.rebind(`SELECT `+streamColumns+` FROM streams WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("stream %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("stream %s: %w", id, err)
	}
	return s, nil
}

// ListStreams implements store.Store. Newest first.
func (d *DB) ListStreams(ctx context.Context, f store.StreamFilter) ([]store.Stream, error) {
	q := `SELECT ` + streamColumns + ` FROM streams WHERE 1=1`
	var args []any
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, string(f.State))
	}
	if f.CreatorID != "" {
		q += ` AND creator_id = ?`
		args = append(args, f.CreatorID)
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	return queryAll(ctx, d.db, d.rebind(q), "list streams", scanStream, args...)
}

// MarkStreamLive implements store.Store.
func (d *DB) MarkStreamLive(ctx context.Context, id string, at time.Time) error {
	res, err := d.exec(ctx, `UPDATE streams SET state = 'live', started_at = COALESCE(started_at, ?) WHERE id = ? AND state <> 'ended'`, at.UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("mark stream %s live: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	if _, err := d.Stream(ctx, id); err != nil {
		return fmt.Errorf("mark stream live: %w", err)
	}
	return fmt.Errorf("mark stream %s live: stream ended: %w", id, store.ErrConflict)
}

// UpdateStreamAccess implements store.Store.
func (d *DB) UpdateStreamAccess(ctx context.Context, id string, previewSeconds, maxSessions int, policy string) error {
	res, err := d.exec(ctx, `UPDATE streams SET preview_seconds = ?, max_sessions = ?, session_policy = ? WHERE id = ?`,
		previewSeconds, maxSessions, policy, id)
	if err != nil {
		return fmt.Errorf("update stream %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update stream %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// UpdateStreamRecording implements store.Store.
func (d *DB) UpdateStreamRecording(ctx context.Context, id string, record bool, window, retention time.Duration) error {
	res, err := d.exec(ctx, `UPDATE streams SET record = ?, replay_window_seconds = ?, retention_seconds = ? WHERE id = ?`,
		b2i(record), int64(window/time.Second), int64(retention/time.Second), id)
	if err != nil {
		return fmt.Errorf("update stream %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update stream %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// EndStream implements store.Store.
func (d *DB) EndStream(ctx context.Context, id string, at time.Time) error {
	res, err := d.exec(ctx, `UPDATE streams SET state = 'ended', ended_at = COALESCE(ended_at, ?) WHERE id = ?`, at.UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("end stream %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("end stream %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// queryAll runs a query (placeholders already rebound) and scans every row; what names
// the query in errors.
func queryAll[T any](ctx context.Context, q querier, query, what string, scan func(scanner) (T, error), args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// connectTimeout bounds a connection attempt to PostgreSQL.
const connectTimeout = 3 * time.Second

// unavailableConnector marks the errors of a database that is away as
// store.ErrUnavailable, which callers answer with 503 rather than 500: a failure to
// connect, on a pooled connection the server's word that it is shutting down or the
// connection's loss, and a statement with no answer within statementTimeout (a server
// paused, or cut off without closing its connections). While the database is known to
// be away, statements fail at once, one a second going through to learn whether it is
// back, so that a paused database costs each request nothing rather than ten seconds.
type unavailableConnector struct {
	driver.Connector
	health *health
}

// statementTimeout bounds a statement whose caller set no sooner deadline.
const statementTimeout = 10 * time.Second

// health is what the connections of one pool know of the database.
type health struct {
	mu       sync.Mutex
	down     bool
	lastTry  time.Time
	lastDown error
}

// admit says whether a statement may go to the database now: always when it answers;
// while it does not, one a second (the probe, bounded more tightly).
func (h *health) admit() (timeout time.Duration, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down {
		return statementTimeout, nil
	}
	if time.Since(h.lastTry) < time.Second {
		return 0, fmt.Errorf("%w: %v", store.ErrUnavailable, h.lastDown)
	}
	h.lastTry = time.Now()
	return 2 * time.Second, nil
}

// saw records how a statement (or a connection) fared.
func (h *health) saw(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err == nil:
		h.down = false
	case errors.Is(err, store.ErrUnavailable):
		if !h.down {
			h.lastTry = time.Now()
		}
		h.down, h.lastDown = true, err
	}
}

func (c unavailableConnector) Connect(ctx context.Context) (driver.Conn, error) {
	timeout, err := c.health.admit()
	if err != nil {
		return nil, err
	}
	if timeout < statementTimeout { // a probe of a database known away: a short one
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Second)
		defer cancel()
	}
	conn, err := c.Connector.Connect(ctx)
	if err != nil && (ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded)) {
		err = fmt.Errorf("%w: %v", store.ErrUnavailable, err)
		c.health.saw(err)
		return nil, err
	}
	if pc, ok := conn.(*stdlib.Conn); ok {
		return unavailableConn{pc, c.health}, nil // every other method of pgx's is promoted as it is
	}
	return conn, err
}

// unavailableConn is a pgx connection whose outage errors say so.
type unavailableConn struct {
	*stdlib.Conn
	health *health
}

// bound gives a statement its deadline; done reports how it fared and releases it.
func (c unavailableConn) bound(ctx context.Context) (context.Context, func(error) error, error) {
	timeout, err := c.health.admit()
	if err != nil {
		return nil, nil, err
	}
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > timeout {
		sctx, cancel = context.WithTimeout(ctx, timeout)
	}
	return sctx, func(err error) error {
		err = unavailable(ctx, sctx, err) // before the release, which ends sctx too
		cancel()
		c.health.saw(err)
		return err
	}, nil
}

func (c unavailableConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	sctx, done, err := c.bound(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.Conn.QueryContext(sctx, q, args)
	if err != nil {
		return nil, done(err)
	}
	if r, ok := rows.(*stdlib.Rows); ok {
		// The rows are read under the statement's deadline; it is released when they close.
		return boundRows{r, done}, nil
	}
	return rows, done(nil)
}

func (c unavailableConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	sctx, done, err := c.bound(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.Conn.ExecContext(sctx, q, args)
	return res, done(err)
}

// BeginTx runs under the caller's ctx alone: pgx commits under the context the
// transaction began with, so a deadline of the BEGIN's own would fail the COMMIT. The
// transaction's statements are bounded one by one.
func (c unavailableConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if _, err := c.health.admit(); err != nil {
		return nil, err
	}
	tx, err := c.Conn.BeginTx(ctx, opts)
	err = unavailable(ctx, ctx, err)
	c.health.saw(err)
	return tx, err
}

// Ping is a health probe: one that fails, by its caller's deadline or otherwise, is the
// database away.
func (c unavailableConn) Ping(ctx context.Context) error {
	if _, err := c.health.admit(); err != nil {
		return err
	}
	err := c.Conn.Ping(ctx)
	if err == nil {
		c.health.saw(nil)
		return nil
	}
	// pgx answers any failed ping with driver.ErrBadConn (database/sql then tries a new
	// connection, which an expired deadline stops before it dials): the database is
	// away all the same.
	away := err
	if !errors.Is(err, store.ErrUnavailable) {
		away = fmt.Errorf("%w: ping: %v", store.ErrUnavailable, err)
	}
	c.health.saw(away)
	if errors.Is(err, driver.ErrBadConn) {
		return err
	}
	return away
}

// boundRows releases its statement's deadline when closed.
type boundRows struct {
	*stdlib.Rows
	done func(error) error
}

func (r boundRows) Close() error {
	err := r.Rows.Close()
	_ = r.done(nil)
	return err
}

// unavailable wraps err in store.ErrUnavailable when it says the server is going away,
// the connection is lost (SQLSTATE classes 08 and 57, a network error) or the statement
// had no answer by its own deadline (sctx's, not the caller's ctx); database/sql's own
// retry signal (driver.ErrBadConn) and the caller's cancellation pass as they are.
func unavailable(ctx, sctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil || errors.Is(err, driver.ErrBadConn) || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var pgErr *pgconn.PgError
	var netErr net.Error
	switch {
	case errors.Is(sctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: no answer within its deadline: %v", store.ErrUnavailable, err)
	case errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57")):
	case errors.As(err, &netErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
	default:
		return err
	}
	return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
}

// Ping reports whether the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.db.PingContext(ctx); err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return err
		}
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	}
	return nil
}
