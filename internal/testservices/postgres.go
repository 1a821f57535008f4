package testservices

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	c, err := newCluster()
	if err != nil {
		return nil, err
	}
	s, err := c.run(port)
	if err != nil {
		_ = os.RemoveAll(c.dir)
		return nil, err
	}
	s.dir = c.dir // removed when it stops
	return s, nil
}

// cluster is a PostgreSQL data directory made by initdb, with its password and owner.
type cluster struct {
	bin, dir, password string
	cred               *syscall.Credential
}

func newCluster() (*cluster, error) {
	initdb, err := findInitdb()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "livegate-pg-")
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: filepath.Dir(initdb), dir: dir}
	fail := func(err error) (*cluster, error) { _ = os.RemoveAll(dir); return nil, err }
	password := make([]byte, 16)
	_, _ = rand.Read(password)
	c.password = hex.EncodeToString(password)
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(c.password+"\n"), 0o600); err != nil {
		return fail(err)
	}
	if c.cred, err = unprivileged(dir); err != nil {
		return fail(err)
	}
	init := exec.Command(initdb, "-D", filepath.Join(dir, "data"), "-U", "livegate", "--auth=scram-sha-256", "--pwfile="+pwFile,
		"-E", "UTF8", "--locale=C", "--no-sync")
	init.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := init.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w\n%s", err, out))
	}
	return c, nil
}

// run starts the cluster's server on port; stopping it leaves the data directory.
func (c *cluster) run(port int) (*service, error) {
	s := &service{name: "PostgreSQL", addr: fmt.Sprintf("127.0.0.1:%d", port)}
	// Durability buys nothing in a cluster that lives for one test run; the tests want speed.
	s.cmd = exec.Command(filepath.Join(c.bin, "postgres"), "-D", filepath.Join(c.dir, "data"), "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+c.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "log_min_messages=warning")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	s.url = fmt.Sprintf("postgres://livegate:%s@127.0.0.1:%d/postgres?sslmode=disable", c.password, port)
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

// Postgres is a PostgreSQL server of one test's own, which the test may stop and start
// again (an outage) without touching the other tests' database.
type Postgres struct {
	URL  string // the same across restarts
	port int
	c    *cluster
	mu   sync.Mutex
	s    *service
}

// StartPostgres starts a PostgreSQL for t alone, stopped and removed when t ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCluster()
	if err != nil {
		Missing(t, "PostgreSQL", err)
	}
	p := &Postgres{port: port, c: c}
	p.Start(t)
	p.URL = p.s.url
	t.Cleanup(func() { p.Stop(t); _ = os.RemoveAll(c.dir) })
	return p
}

// Start starts it again on the same port and data after Stop.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.s != nil {
		return
	}
	s, err := spawn(func() (*service, error) { return p.c.run(p.port) })
	if errors.Is(err, errNoMain) {
		t.Fatalf("PostgreSQL: %v", err)
	}
	if err != nil {
		Missing(t, "PostgreSQL", err)
	}
	p.s = s
}

// Stop shuts it down at once (a fast shutdown: clients are cut off); its data stays.
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.s == nil {
		return
	}
	p.signal(syscall.SIGCONT) // a paused server cannot stop
	if err := p.s.stop(); err != nil {
		t.Logf("stop PostgreSQL: %v", err)
	}
	p.s = nil
}

// Pause stops the server's processes where they are (SIGSTOP): its connections stay
// open and nothing answers, as a server that hangs or a network that drops its packets
// would. Resume lets them go on.
func (p *Postgres) Pause(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.s == nil {
		t.Fatal("pause PostgreSQL: it is not running")
	}
	p.signal(syscall.SIGSTOP)
}

// Resume undoes Pause.
func (p *Postgres) Resume(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.s != nil {
		p.signal(syscall.SIGCONT)
	}
}

// signal sends sig to the server and every process it started (its backends).
func (p *Postgres) signal(sig syscall.Signal) {
	root := p.s.cmd.Process.Pid
	pids := []int{root}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: the command may hold spaces, so read after its ')'.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) > 1 && fields[1] == strconv.Itoa(root) {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
}
