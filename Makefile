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
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: deps
deps: $(NODE_MODULES) ## install npm dependencies (npm ci) when package-lock.json changed

.PHONY: tools
tools: ## build the pinned upstream binaries into bin/: etcd, kube-apiserver, kube-controller-manager, kubeadm, kube-scheduler, kube-proxy, kubelet, kubectl, CAPI manager, clusterctl, CAPI test extension, baremetal-operator, Kamaji CP provider, kustomize, Sveltos addon-controller, kube-ovn-controller, Debian's OVN/OVS (bin/ovn), Debian's containerd/runc/CNI plugins/iptables and the node image (bin/node)
	@echo "make tools: pinned upstream binaries into $(BIN_DIR)"
	@hack/tools/build.sh
	@hack/tools/kubeovn/build.sh kube-ovn-controller
	@hack/tools/kubeovn/build.sh ovn
	@hack/tools/node/build.sh

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
test: deps tools lint typecheck verify-gen build release-manifests ## everything: lint, type-check, generated-code drift, unit and integration tests
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
demo: deps tools build release-manifests ## local management plane, clusterctl init, one Cluster object to an Available tenant cluster; left running
	@node --import tsx test/e2e/demo.ts up

.PHONY: soak
soak: deps tools build ## the e2e chaos test with 200 random SIGKILLs of our managers instead of 20
	IRONPLANE_E2E_KILLS=200 npx vitest run --project integration test/e2e/chaos.test.ts

.PHONY: demo-down
demo-down: ## stop every process `make demo` started
	@node --import tsx test/e2e/demo.ts down

RELEASE_DIR ?= $(CURDIR)/out

.PHONY: release-manifests
release-manifests: $(NODE_MODULES) ## clusterctl release artifacts of every provider into out/ (kustomize over config/release), checked against clusterctl's contract
	@hack/tools/build.sh kustomize
	@config/release/build.sh $(RELEASE_DIR)
	@node --import tsx test/e2e/clusterctl.ts verify-release $(RELEASE_DIR)

# The image the Dockerfile describes, built without Docker: an OCI archive that
# `ctr -n k8s.io images import` takes, the same digest for the same inputs.
# See adr/0015-image-without-docker.md.
IMAGE_DIR ?= $(CURDIR)/out/image

.PHONY: image
image: deps build ## the ironplane image without Docker, reproducibly: out/image/ironplane-<version>.oci.tar (OCI layout), prints its digest
	@hack/image/build.sh $(IMAGE_DIR)

# The e2e against a kind management cluster instead of the local plane: the
# provider Deployments run for real, from the image the Dockerfile builds,
# loaded with `kind load`; clusterctl installs cert-manager and waits for every
# provider. Needs a Docker engine and kind, which this project's machines and
# CI do not have: there it stops at once, saying so. See test/e2e/README.md.
KIND_CLUSTER ?= ironplane
KIND_NODE_IMAGE ?=
IRONPLANE_IMAGE ?= ghcr.io/ironplane/ironplane
IRONPLANE_IMAGE_TAG ?= dev

.PHONY: e2e-kind
e2e-kind: ## the e2e against a kind management cluster (needs a Docker engine and kind; see test/e2e/README.md)
	@missing=""; for t in docker kind; do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [[ -n "$$missing" ]]; then \
	  echo "make e2e-kind: needs docker (with a running engine) and kind; not found:$$missing. It cannot run on a machine without Docker, such as this project's CI; 'make test' runs the e2e on the local plane instead." >&2; \
	  exit 2; \
	fi; \
	docker info >/dev/null 2>&1 || { echo "make e2e-kind: the docker client is here but no Docker engine answers ('docker info' failed); kind needs one" >&2; exit 2; }
	$(MAKE) --no-print-directory deps tools build release-manifests
	docker build -t $(IRONPLANE_IMAGE):$(IRONPLANE_IMAGE_TAG) .
	kind get clusters | grep -qx '$(KIND_CLUSTER)' || kind create cluster --name $(KIND_CLUSTER) $(if $(KIND_NODE_IMAGE),--image $(KIND_NODE_IMAGE)) --wait 120s
	kind load docker-image --name $(KIND_CLUSTER) $(IRONPLANE_IMAGE):$(IRONPLANE_IMAGE_TAG)
	mkdir -p $(CURDIR)/.tmp && kind get kubeconfig --name $(KIND_CLUSTER) > $(CURDIR)/.tmp/kind-$(KIND_CLUSTER).kubeconfig
	IRONPLANE_IMAGE=$(IRONPLANE_IMAGE) IRONPLANE_VERSION=$(IRONPLANE_IMAGE_TAG) \
	  node --import tsx test/e2e/clusterctl.ts init-running $(CURDIR)/.tmp/kind-$(KIND_CLUSTER).kubeconfig
	IRONPLANE_E2E_KUBECONFIG=$(CURDIR)/.tmp/kind-$(KIND_CLUSTER).kubeconfig npx vitest run --project integration test/e2e

.PHONY: clean
clean: ## remove build output (keeps bin/ tools)
	rm -rf dist out coverage

include hack/gen/gen.mk
