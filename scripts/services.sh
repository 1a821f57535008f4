#!/usr/bin/env bash
# Installs what the tests run against, where it is missing: PostgreSQL's server programs
# (initdb, postgres), Redis, stripe-mock and gofakes3 (an S3 server), Chromium, werift and
# aiortc, nftables and iproute2.
# It starts nothing: each test process starts the services it uses on loopback ports of
# its own (package internal/testservices), so neither the machine's PostgreSQL settings
# nor the user running the tests matter. Any failure exits non-zero: under `make test`
# the tests never skip for a missing service.
set -euo pipefail

log() { echo "services: $*" >&2; }

apt_install() {
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		log "installing $*"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
	else
		log "missing: $* (install it as root: apt-get install $*)"
		return 1
	fi
}

# PostgreSQL's programs only: Debian keeps initdb off PATH, in /usr/lib/postgresql/N/bin.
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	apt_install postgresql
fi
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
	apt_install redis-server
fi

# ip, tc and nft build the shaped, lossy and UDP-blind links of the network tests
# (internal/netns); they need root, and are skipped, saying so, without it.
if ! command -v nft >/dev/null || ! command -v tc >/dev/null; then
	apt_install nftables iproute2
fi

# Go tools, pinned: a newer stripe-mock may validate against an API stripe-go v76 does not
# speak. `go install` works for any user (into its own GOPATH).
gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
go_tool() { # name module@version
	if [ ! -x "$gobin/$1" ] && ! command -v "$1" >/dev/null; then
		log "installing $2"
		go install "$2"
	fi
}
go_tool stripe-mock github.com/stripe/stripe-mock@v0.203.0
go_tool gofakes3 github.com/johannesboyne/gofakes3/cmd/gofakes3@v1.2.0

# Chromium, for the browser end-to-end tests (Debian's package; no browser download).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
	apt_install chromium
fi
# werift (an independent WebRTC stack, from the npm registry) for the WHEP interop test.
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
werift="$(dirname "$0")/../internal/e2e/testdata/werift"
if [ ! -d "$werift/node_modules/werift" ]; then
	log "installing werift"
	(cd "$werift" && npm ci --no-audit --no-fund --loglevel=error)
fi
# aiortc (Python's WebRTC stack, decoding through FFmpeg) for the H.264 join test: Debian's
# package, for Debian's /usr/bin/python3 (PyPI is out of reach here).
if ! /usr/bin/python3 -c 'import aiortc' 2>/dev/null; then
	apt_install python3-aiortc
fi
log "PostgreSQL, Redis, stripe-mock, gofakes3, Chromium, werift and aiortc are installed; the tests start their own"
