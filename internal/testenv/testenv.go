// Package testenv gives tests the real services they run against (PostgreSQL, Redis,
// stripe-mock) and decides what a missing one means: a failure under CI=true, a loud skip
// on a developer's machine where `make test` was not used.
package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/livegate/livegate/internal/store"
)

// Missing stops the test because a service it needs is not there.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" || os.Getenv("LIVEGATE_REQUIRE_SERVICES") != "" {
		t.Fatalf("%s is required but not reachable: %v (run `make test`, which starts it)", what, err)
	}
	t.Skipf("SKIPPED: %s not reachable: %v (run `make test`, which starts it)", what, err)
}

// PostgresURL returns a URL to a fresh, empty schema in the test PostgreSQL database;
// the schema is dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("LIVEGATE_TEST_DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", base)
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err != nil {
		Missing(t, "PostgreSQL", err)
	}
	schema := strings.ReplaceAll(store.NewID("t"), "-", "")
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
		db.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return fmt.Sprintf("%s%ssearch_path=%s", base, sep, schema)
}
