# switchyard: `make run` starts the demo, `make test` runs everything CI runs.
SHELL := /bin/bash
GO        ?= go
BIN       ?= bin
FUZZTIME  ?= 5s
STATICCHECK = honnef.co/go/tools/cmd/staticcheck@v0.8.2
RACE_PKGS = ./engine/... ./splice/... ./router/... ./health/ ./internal/app/... ./internal/h2proxy/ ./internal/ticketkeys/

.PHONY: all build run test unit race fuzz e2e bench bench-peers lint fmt clean deb

all: build

build:
	$(GO) build -o $(BIN)/switchyard ./cmd/switchyard
	$(GO) build -o $(BIN)/switchyard-bench ./cmd/switchyard-bench

# A Debian package in $(BIN)/ (dpkg-deb only): the static binaries, the
# systemd unit, sysusers.d and tmpfiles.d snippets, the manual page, bash
# completion. VERSION=1.2.3 and GOARCH=arm64 are honoured. Install it with
# apt-get install ./$(BIN)/switchyard_*.deb.
deb:
	OUT=$(abspath $(BIN)) GO=$(GO) ./scripts/build-deb.sh

# A demo on loopback: two built-in IMAP backends ("old" and "new"), a
# mapping file, and listeners on high ports. It prints how to try it.
run:
	$(GO) run ./cmd/switchyard --demo

# What CI runs: static checks, unit tests (race detector on the concurrent
# packages), a short run of every fuzz target, and the end-to-end suite
# against real Dovecot, curl, Python imaplib and Cyrus imtest.
test: lint unit race fuzz e2e

unit:
	$(GO) test -count=1 ./...

race:
	$(GO) test -count=1 -race -short $(RACE_PKGS)

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

e2e:
	SWITCHYARD_E2E=1 SWITCHYARD_E2E_REQUIRE=$${SWITCHYARD_E2E_REQUIRE:-0} $(GO) test -count=1 -v -timeout 15m ./e2e/ ./bench/ ./router/redisstore/ ./router/sqlstore/ 2>&1 \
		| tee /tmp/switchyard-e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)'; \
	status=$${PIPESTATUS[0]}; \
	if [ $$status -ne 0 ]; then echo "== failures (full log: /tmp/switchyard-e2e.log)"; grep -B3 -A30 -E -- '--- FAIL|^panic:' /tmp/switchyard-e2e.log | head -400; \
		echo "== what the failing tests reported (file:line lines of each failed top-level test)"; \
		awk '/^=== RUN   [^\/]+$$/ { buf = "" } /^ +[A-Za-z0-9_]+\.go:[0-9]+: / { buf = buf $$0 "\n" } /^--- FAIL: / { printf "%s", buf; print; buf = "" }' /tmp/switchyard-e2e.log | cut -c1-300 | tail -60; fi; \
	exit $$status

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./router/... ./protocols/... ./splice/...
	./scripts/bench-imap.sh

# nginx mail proxy, Dovecot proxy, HAProxy, switchyard and direct, side by
# side on loopback (needs root; apt-get install haproxy dovecot-imapd
# nginx-light libnginx-mod-mail).
bench-peers:
	./scripts/bench-peers.sh $(BENCH_PEERS_ARGS)

lint:
	@test -z "$$(gofmt -l .)" || (gofmt -l .; echo "gofmt: files above need formatting"; exit 1)
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fmt:
	gofmt -w .

clean:
	rm -rf $(BIN)
