package testservices

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the tests' database driver, as the node's
)

// PostgresURL is a PostgreSQL database the tests may create schemas in:
// LIVEGATE_TEST_DATABASE_URL when set, otherwise a cluster of the test process's own,
// made by initdb in a temporary directory and removed at the end. It listens on a free
// loopback port and takes a random password, so other users of the machine cannot reach
// it; as root it runs as the postgres (or nobody) user, since PostgreSQL refuses root.
func PostgresURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("LIVEGATE_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return start(t, "PostgreSQL", startPostgres).url
}

func startPostgres(port int) (*service, error) {
	initdb, err := findInitdb()
	if err != nil {
		return nil, err
	}
	bin := filepath.Dir(initdb)
	dir, err := os.MkdirTemp("", "livegate-pg-")
	if err != nil {
		return nil, err
	}
	s := &service{name: "PostgreSQL", dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	fail := func(err error) (*service, error) { s.cleanup(); return nil, err }

	password := make([]byte, 16)
	_, _ = rand.Read(password)
	pw := hex.EncodeToString(password)
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		return fail(err)
	}
	cred, err := unprivileged(dir)
	if err != nil {
		return fail(err)
	}
	data := filepath.Join(dir, "data")
	init := exec.Command(initdb, "-D", data, "-U", "livegate", "--auth=scram-sha-256", "--pwfile="+pwFile,
		"-E", "UTF8", "--locale=C", "--no-sync")
	init.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := init.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w\n%s", err, out))
	}
	// Durability buys nothing in a cluster that lives for one test run; the tests want speed.
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "log_min_messages=warning")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	s.url = fmt.Sprintf("postgres://livegate:%s@127.0.0.1:%d/postgres?sslmode=disable", pw, port)
	return launch(s, func() error {
		db, err := sql.Open("pgx", s.url)
		if err != nil {
			return err
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return db.PingContext(ctx)
	})
}

// findInitdb is initdb on PATH, or the newest of Debian's /usr/lib/postgresql/*/bin (not on
// PATH there), resolved so postgres is found next to it.
func findInitdb() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.EvalSymlinks(p)
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(found, func(i, j int) bool { return pgMajor(found[i]) < pgMajor(found[j]) })
	if len(found) == 0 {
		return "", fmt.Errorf("initdb: %w (on PATH or in /usr/lib/postgresql/*/bin: install Debian's postgresql package)", exec.ErrNotFound)
	}
	return found[len(found)-1], nil
}

func pgMajor(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// unprivileged is who runs PostgreSQL: the test's own user, or when that is root (which
// PostgreSQL refuses) the postgres user, or nobody; dir is handed to that user.
func unprivileged(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("running as root and no postgres or nobody user to run PostgreSQL as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	err = filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(path, uid, gid)
	})
	if err != nil {
		return nil, fmt.Errorf("hand %s to %s: %w", dir, u.Username, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
