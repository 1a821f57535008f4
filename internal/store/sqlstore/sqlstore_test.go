package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlstore"
	"github.com/livegate/livegate/internal/store/storetest"
	"github.com/livegate/livegate/internal/testenv"
)

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "sub", "livegate.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sqlstore.Open(context.Background(), testenv.PostgresURL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// Reopening runs no migration twice and keeps the data.
func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := "sqlite:" + filepath.Join(t.TempDir(), "livegate.db")
	db, err := sqlstore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateCreator(ctx, store.Creator{ID: "cr_1", Name: "x"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlstore.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if _, err := db.Creator(ctx, "cr_1"); err != nil {
		t.Fatalf("creator lost on reopen: %v", err)
	}
}

// A URL of a database livegate does not use is refused, never taken for a file name; a
// SQLite file damaged in its middle pages is refused at open, with its path.
func TestOpenRefusesWhatItCannotTrust(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, u := range []string{"mysql://x/y", "postgresql+pgx://h/db", filepath.Join(dir, "plain.db")} {
		if db, err := sqlstore.Open(ctx, u); err == nil {
			db.Close()
			t.Errorf("Open(%q) accepted", u)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused URLs left files: %v", entries)
	}
	path := filepath.Join(dir, "livegate.db")
	db, err := sqlstore.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 { // enough rows for many pages
		if err := db.CreateCreator(ctx, store.Creator{ID: fmt.Sprintf("cr_%04d", i), Name: strings.Repeat("n", 200)}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	_ = os.Remove(path + "-wal")
	_ = os.Remove(path + "-shm")
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 64<<10 {
		t.Fatalf("the file: %d bytes, %v", len(b), err)
	}
	for i := len(b) / 2; i < len(b)/2+8192; i++ { // two pages in the middle
		b[i] = 0x5a
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = sqlstore.Open(ctx, "sqlite:"+path)
	if err == nil {
		db.Close()
		t.Fatal("a damaged file opened")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("the refusal does not name the file: %v", err)
	}
}
