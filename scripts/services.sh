#!/usr/bin/env bash
# Makes sure every service the tests talk to is answering on loopback: PostgreSQL
# (127.0.0.1:5432, database "test"), Redis (127.0.0.1:6379), stripe-mock
# (127.0.0.1:12111/12112) and an S3 server (127.0.0.1:19000), and that Chromium is
# installed for the browser test. Starts what is down, installs what is missing. Any failure exits non-zero: the tests never
# silently skip a service under CI.
set -euo pipefail

log() { echo "services: $*" >&2; }

answers() { # host port
	timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

wait_for() { # name host port seconds
	for _ in $(seq 1 $(($4 * 10))); do
		answers "$2" "$3" && return 0
		sleep 0.1
	done
	log "$1 is not answering on $2:$3"
	return 1
}

apt_install() {
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		log "installing $*"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
	else
		log "cannot install $* (not root or no apt-get)"
		return 1
	fi
}

# PostgreSQL
if ! answers 127.0.0.1 5432; then
	command -v pg_ctlcluster >/dev/null || apt_install postgresql
	ver=$(ls /etc/postgresql | sort -V | tail -n 1)
	log "starting PostgreSQL $ver"
	pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
	wait_for PostgreSQL 127.0.0.1 5432 30
fi
if command -v psql >/dev/null; then
	if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
		log "creating database test"
		psql -h 127.0.0.1 -U postgres -d postgres -c 'CREATE DATABASE test' >/dev/null
	fi
fi

# Redis
if ! answers 127.0.0.1 6379; then
	command -v redis-server >/dev/null || apt_install redis-server
	mkdir -p /var/lib/redis /var/log/redis
	log "starting Redis"
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/ci.log
	wait_for Redis 127.0.0.1 6379 15
fi

# stripe-mock
gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
if ! answers 127.0.0.1 12111; then
	if [ ! -x "$gobin/stripe-mock" ]; then
		log "installing stripe-mock"
		go install github.com/stripe/stripe-mock@v0.203.0 # pinned: a newer one may validate against an API stripe-go v76 does not speak
	fi
	log "starting stripe-mock"
	nohup "$gobin/stripe-mock" -http-addr 127.0.0.1:12111 -https-addr 127.0.0.1:12112 >/tmp/stripe-mock.log 2>&1 &
	wait_for stripe-mock 127.0.0.1 12111 30
fi
# An S3-compatible server for the recordings' bucket (gofakes3, a standalone S3 server in
# Go, pinned; in memory: the tests make their own buckets).
if ! answers 127.0.0.1 19000; then
	if [ ! -x "$gobin/gofakes3" ]; then
		log "installing gofakes3"
		go install github.com/johannesboyne/gofakes3/cmd/gofakes3@v1.2.0
	fi
	log "starting gofakes3"
	nohup "$gobin/gofakes3" -host 127.0.0.1:19000 -backend memory -quiet >/tmp/gofakes3.log 2>&1 &
	wait_for gofakes3 127.0.0.1 19000 30
fi
# Chromium, for the browser end-to-end test (Debian's package; no browser download).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
	apt_install chromium
fi
# werift (an independent WebRTC stack, from the npm registry) for the WHEP interop test.
command -v node >/dev/null || apt_install nodejs npm
werift="$(dirname "$0")/../internal/e2e/testdata/werift"
if [ ! -d "$werift/node_modules/werift" ]; then
	log "installing werift"
	(cd "$werift" && npm ci --no-audit --no-fund --loglevel=error)
fi
log "PostgreSQL, Redis, stripe-mock, gofakes3 (S3), Chromium and werift are ready"
