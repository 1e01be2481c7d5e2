# filelock — make run | make test
GO      ?= go
BIN     ?= bin/filelockd
MAIN    := cmd/filelockd/main.go
SWAG    := $(GO) tool swag init -q -g $(MAIN)

.PHONY: run build test gotest e2e bench docs docs-check lint fuzz clean

## run: start the server on :8000 with the memory store (see configs/filelock.yaml)
run:
	$(GO) run ./cmd/filelockd $(ARGS)

## build: build bin/filelockd
build:
	$(GO) build -o $(BIN) ./cmd/filelockd

## test: lint, check docs/ is current, Go tests with -race, then the e2e tests
test: lint docs-check gotest e2e

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

## bench: every benchmark, no tests
bench:
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
	rm -rf bin
