# Ironplane. `make test` and `make demo` are all a fresh machine needs:
# they install npm dependencies and build the upstream test binaries first.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

NODE_MODULES := node_modules/.installed
BIN_DIR ?= $(CURDIR)/bin
export BIN_DIR

.PHONY: help
help: ## list targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: deps
deps: $(NODE_MODULES) ## install npm dependencies (npm ci) when package-lock.json changed

.PHONY: tools
tools: ## build etcd, kube-apiserver, kube-controller-manager, kubeadm, CAPI manager, clusterctl and Metal3 baremetal-operator into bin/
	@echo "make tools: pinned upstream binaries into $(BIN_DIR)"
	@hack/tools/build.sh

.PHONY: build
build: $(NODE_MODULES) ## compile TypeScript into dist/
	npm run --silent build

.PHONY: lint
lint: $(NODE_MODULES) ## eslint
	npm run --silent lint

.PHONY: typecheck
typecheck: $(NODE_MODULES) ## tsc --noEmit over sources and tests
	npm run --silent typecheck

.PHONY: test
test: deps tools lint typecheck verify-gen build ## everything: lint, type-check, generated-code drift, unit and integration tests
	npx vitest run

.PHONY: test-unit
test-unit: $(NODE_MODULES) ## unit tests only (no binaries needed)
	npx vitest run --project unit

.PHONY: test-integration
test-integration: deps tools build ## integration tests against a real kube-apiserver
	npx vitest run --project integration

.PHONY: bench
bench: deps tools build ## benchmarks; prints one JSON line per figure
	node --import tsx bench/run.ts

.PHONY: demo
demo: ## the end-to-end demo (arrives with the e2e work)
	@echo "make demo: not available yet; it arrives with the end-to-end work (one Cluster object to an Available tenant cluster)." >&2
	@exit 2

.PHONY: clean
clean: ## remove build output (keeps bin/ tools)
	rm -rf dist out coverage

include hack/gen/gen.mk
