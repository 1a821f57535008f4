# The two commands a newcomer needs: `make run` (or `go run ./cmd/livegate`) and `make test`.
GO ?= go

.PHONY: run test test-short services vet lint fuzz bench load build

run:
	$(GO) run ./cmd/livegate

build:
	$(GO) build -o bin/ ./cmd/...

# Installs what the tests need (they start their own PostgreSQL, Redis, stripe-mock and S3
# server), then runs every test
# with the race detector. LIVEGATE_REQUIRE_SERVICES makes a missing service a failure;
# -parallel 4 lets the end-to-end tests that only wait (see parallelWait) wait together.
test: services vet
	LIVEGATE_REQUIRE_SERVICES=1 $(GO) test -race -count=1 -parallel 4 -timeout 20m ./...

services:
	bash scripts/services.sh

vet: lint
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# golangci-lint at a pinned version (.golangci.yml says what it checks), built from the
# Go module proxy into build/tools the first time.
GOLANGCI_LINT_VERSION := 2.15.0
GOLANGCI_LINT := $(CURDIR)/build/tools/golangci-lint
lint:
	@$(GOLANGCI_LINT) version 2>/dev/null | grep -q "version $(GOLANGCI_LINT_VERSION) " || \
		{ echo "installing golangci-lint v$(GOLANGCI_LINT_VERSION)"; GOBIN=$(CURDIR)/build/tools $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$(GOLANGCI_LINT_VERSION); }
	$(GOLANGCI_LINT) run ./...

# Runs each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./internal/sfu -run '^$$' -fuzz FuzzParseOffer -fuzztime $(FUZZTIME)
	$(GO) test ./internal/sfu -run '^$$' -fuzz FuzzMunger -fuzztime $(FUZZTIME)
	$(GO) test ./internal/whip -run '^$$' -fuzz FuzzParseSDPFrag -fuzztime $(FUZZTIME)
	$(GO) test ./internal/whip -run '^$$' -fuzz FuzzTricklePatch -fuzztime $(FUZZTIME)
	$(GO) test ./internal/httpapi -run '^$$' -fuzz FuzzCreateStreamJSON -fuzztime $(FUZZTIME)
	$(GO) test ./internal/whipclient -run '^$$' -fuzz FuzzParseICEServerLinks -fuzztime $(FUZZTIME)
	$(GO) test ./internal/red -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/sfu/
	$(GO) test -run '^$$' -bench WebhookPostgres -benchtime 3000x ./internal/billing/
