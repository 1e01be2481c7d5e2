# filelock — make run | make test
GO      ?= go
BIN     ?= bin/filelockd
MAIN    := cmd/filelockd/main.go
SWAG    := $(GO) tool swag init -q -g $(MAIN)

# Stamped into the binary (filelockd version, filelock_build_info): the git
# tag or commit, or what the caller passes (the Dockerfile passes its
# build args); "devel" and the toolchain's own record without git.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) $(if $(COMMIT),-X main.commit=$(COMMIT))
# Static binaries: no cgo.
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'
# make release: one binary per platform under dist/, and SHA256SUMS.
PLATFORMS ?= linux/amd64 linux/arm64 darwin/arm64

.PHONY: run build release test gotest e2e bench bench-smoke bench-backends gobench docs docs-check lint fuzz clean

## run: start the server on :8000 with the memory store (see configs/filelock.yaml)
run:
	$(GO) run ./cmd/filelockd $(ARGS)

## build: build bin/filelockd (static, version stamped); the Dockerfile runs this target
build:
	$(GOBUILD) -o $(BIN) ./cmd/filelockd

## release: dist/filelockd-VERSION-OS-ARCH for each of PLATFORMS, and dist/SHA256SUMS
release:
	rm -rf dist && mkdir -p dist
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=dist/filelockd-$(VERSION)-$$os-$$arch; \
		echo "build $$out"; GOOS=$$os GOARCH=$$arch $(GOBUILD) -o $$out ./cmd/filelockd; \
	done
	cd dist && if command -v sha256sum >/dev/null; then sha256sum filelockd-*; else shasum -a 256 filelockd-*; fi > SHA256SUMS
	@cat dist/SHA256SUMS

## test: lint, check docs/ is current, Go tests with -race, then the e2e tests
test: lint docs-check gotest e2e bench-smoke

gotest:
	$(GO) test -race -count=1 ./...

## soak: the checker's randomized fault rounds on every store and topology for SOAK in all
## (e.g. make soak SOAK=10m); each round prints its seed, CHECK_SEED=<seed> replays it
SOAK ?= 10m
.PHONY: soak
soak:
	CHECK_SOAK=$(SOAK) $(GO) test -race -count=1 -timeout 0 -run '^TestCheck' -v ./internal/check/

## e2e: the node end-to-end tests in e2e/ (when present)
e2e:
	@if [ -f e2e/package.json ]; then \
		cd e2e && npm ci --no-audit --no-fund && npm test; \
	else echo "e2e: no e2e/package.json, skipped"; fi

## bench: short load run (< 2 min) of a fresh server on the memory store per scenario, tables printed (BENCHMARKS.md)
BENCH     ?= bin/filelock-bench
BENCHARGS ?= -n 1000,5000 -idle-n 10000 -ramp 2000 -settle 1s -d 3s -expiry-n 2000 -expiry-p 1,100
bench:
	$(GO) build -o $(BIN) ./cmd/filelockd
	$(GO) build -o $(BENCH) ./cmd/filelock-bench
	ulimit -n $$(ulimit -Hn); ./$(BENCH) -spawn ./$(BIN) $(BENCHARGS)
	$(MAKE) --no-print-directory bench-backends

## bench-backends: webhook delivery latency and rate to a local receiver, /claim requests/s with 10 and 1000 files (both stores)
# The throughput run has a fixed count: 7,200 events over 8 projects stay within a project's
# history (1,000 events in the benchmark's store options), so every event is delivered as itself;
# with -benchtime=2s b.N outgrows the history and the run waits for events replaced by snapshots.
bench-backends:
	$(GO) test -run='^$$' -bench='BenchmarkDeliveryLatency|BenchmarkClaim' -benchtime=2s ./webhooks/ ./handlers/
	$(GO) test -run='^$$' -bench='BenchmarkDeliveryThroughput' -benchtime=7200x ./webhooks/

## bench-smoke: the same scenarios at a tiny size in a few seconds; fails on any missing or duplicate delivery
bench-smoke:
	$(GO) build -o $(BIN) ./cmd/filelockd
	$(GO) build -o $(BENCH) ./cmd/filelock-bench
	./$(BENCH) -spawn ./$(BIN) -strict -n 50 -events 5 -interval 50ms -idle-n 100 -ramp 0 -settle 200ms -c 8 -d 1s -scenarios sse,ws,mixed,idle,lock-http,null-http,lock-ws,lua

## gobench: the Go benchmarks of every package, no tests
gobench:
	$(GO) test -run='^$$' -bench=. ./...

## docs: regenerate the OpenAPI spec in docs/ from the handlers' annotations
docs:
	$(SWAG) -o docs

## docs-check: fail when docs/ differs from what the annotations generate
docs-check:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(SWAG) -o "$$tmp/docs" && \
	diff -r docs "$$tmp/docs" >/dev/null || { echo "docs/ is stale: run make docs"; diff -r docs "$$tmp/docs" | head -40; exit 1; }

## lint: go vet and gofmt
lint:
	$(GO) vet ./...
	@out=$$(find . -name '*.go' -not -path './.git/*' -not -path '*/node_modules/*' -print0 | xargs -0 gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## fuzz: fuzz every Fuzz target of every package for FUZZTIME each (default 60s)
FUZZTIME ?= 60s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf bin dist
