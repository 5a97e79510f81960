# Code generation targets, included by the top-level Makefile:
#
#   include hack/gen/gen.mk
#
#   make gen                   CRD YAML → TypeScript types + ajv validators (hack/gen/sources.ts)
#   make verify-gen            fail, naming the files, if generated code drifts from its CRDs
#   make crds-external         copy upstream CRDs from the pinned Go modules into config/external
#   make verify-crds-external  fail if config/external drifts from the pinned Go modules
#
# gen and verify-gen read committed YAML only: they need Node, not Go.
# After crds-external (or a version bump in hack/tools/*/go.mod), run `make gen`.

# Repository root, whichever directory make was started in.
GEN_ROOT := $(patsubst %/hack/gen/gen.mk,%,$(abspath $(lastword $(MAKEFILE_LIST))))
GEN_NODE ?= node --import tsx
GEN_CRDS_TMP := $(GEN_ROOT)/.tmp/crds-external

# Keep the includer's default goal: these targets must not become it.
_gen_saved_default_goal := $(.DEFAULT_GOAL)

# $(call external-crds,<wrapper module under hack/tools>,<Go module>,<dir or file in module>,<dir under config/external>,<output root>[,<more copier flags>])
# The copier lives in the capi wrapper module; -gomod points it at the module
# that pins the upstream, so every upstream is copied the same way.
define external-crds
cd $(GEN_ROOT)/hack/tools/capi && go run ./crds -gomod ../$(1) -module $(2) -from $(3) -to $(5)/$(4) $(6)
endef

# The kube-OVN CRDs Ironplane uses; kube-OVN ships all of them in one file.
GEN_KUBEOVN_CRDS := vpcs.kubeovn.io subnets.kubeovn.io ips.kubeovn.io switch-lb-rules.kubeovn.io ovn-eips.kubeovn.io ovn-dnat-rules.kubeovn.io

# cert-manager's own API (Issuers and Certificates in providers' components
# YAML); its ACME kinds are not used.
GEN_CERTMANAGER_CRDS := certificates.cert-manager.io certificaterequests.cert-manager.io issuers.cert-manager.io clusterissuers.cert-manager.io

# CAPI's admission webhook configurations, which the harness points at a
# manager running out of cluster (test/harness/capi.ts).
GEN_CAPI_WEBHOOK_KINDS := MutatingWebhookConfiguration ValidatingWebhookConfiguration

# One line per upstream, chained into one shell command so a recipe can
# prefix or redirect it as a whole. Each line owns its output directory (a run
# removes the files an earlier run of it wrote that it no longer writes), so an
# upstream with two modules gets one subdirectory per module.
# The Kamaji CP provider's CRDs come from its released components YAML, which
# carries the contract label (cluster.x-k8s.io/v1beta1: v1alpha1) CAPI looks
# up; its config/crd/bases leaves that label to kustomize.
# Multus's NetworkAttachmentDefinition comes from the version kube-OVN
# requires: kube-OVN reads a Pod's attachments (the private endpoint's proxy,
# adr/0014), so the OVN test world serves the kind.
# cert-manager's CRDs come from deploy/crds (plain YAML; its Helm chart
# templates them): clusterctl init finds cert-manager present when it can
# create a test Issuer and Certificate, so the local planes install only these.
# KubeVirt keeps no CRD YAML: hack/tools/kubevirt/crds builds its CRDs with
# KubeVirt's own Go constructors (the first run compiles for a few minutes).
define copy-external-crds
{ $(call external-crds,capi,sigs.k8s.io/cluster-api,config/crd/bases,capi,$(1)) && \
  $(call external-crds,kubeovn,github.com/kubeovn/kube-ovn,charts/kube-ovn-v2/crds/kube-ovn-crd.yaml,kube-ovn,$(1),$(GEN_KUBEOVN_CRDS:%=-include %)) && \
  $(call external-crds,kubeovn,github.com/k8snetworkplumbingwg/network-attachment-definition-client,artifacts/networks-crd.yaml,multus,$(1)) && \
  $(call external-crds,bmo,github.com/metal3-io/baremetal-operator,config/base/crds/bases,metal3,$(1)) && \
  $(call external-crds,capi,sigs.k8s.io/cluster-api,config/webhook/manifests.yaml,capi-webhooks,$(1),$(GEN_CAPI_WEBHOOK_KINDS:%=-kind %)) && \
  $(call external-crds,kamaji,github.com/clastix/cluster-api-control-plane-provider-kamaji,config/control-plane-components.yaml,kamaji/provider,$(1)) && \
  $(call external-crds,kamaji,github.com/clastix/kamaji,charts/kamaji/crds,kamaji/kamaji,$(1)) && \
  $(call external-crds,sveltos,github.com/projectsveltos/addon-controller,config/crd/bases,sveltos/addon-controller,$(1)) && \
  $(call external-crds,sveltos,github.com/projectsveltos/libsveltos,config/crd/bases,sveltos/libsveltos,$(1)) && \
  $(call external-crds,capsule,github.com/projectcapsule/capsule,charts/capsule/crds,capsule,$(1)) && \
  $(call external-crds,certmanager,github.com/cert-manager/cert-manager,deploy/crds,cert-manager,$(1),$(GEN_CERTMANAGER_CRDS:%=-include %)) && \
  cd $(GEN_ROOT)/hack/tools/kubevirt && go run ./crds -to $(1)/kubevirt; }
endef

.PHONY: gen verify-gen crds-external verify-crds-external

gen: ## generate TypeScript types + ajv validators from CRD YAML (no Go needed)
	cd $(GEN_ROOT) && $(GEN_NODE) hack/gen/generate.ts

verify-gen: ## fail, naming the files, if generated code drifts from its CRDs
	cd $(GEN_ROOT) && $(GEN_NODE) hack/gen/generate.ts --verify

crds-external: ## copy upstream CRDs from the pinned Go modules into config/external (needs Go)
	@command -v go >/dev/null 2>&1 || { echo "crds-external: Go (>= 1.25) is required to read the pinned upstream modules" >&2; exit 1; }
	$(call copy-external-crds,$(GEN_ROOT)/config/external)

verify-crds-external: ## fail if config/external drifts from the pinned Go modules (needs Go)
	@command -v go >/dev/null 2>&1 || { echo "verify-crds-external: Go (>= 1.25) is required" >&2; exit 1; }
	@rm -rf $(GEN_CRDS_TMP) && mkdir -p $(GEN_CRDS_TMP)
	@$(call copy-external-crds,$(GEN_CRDS_TMP)) >/dev/null
	@for d in $(GEN_CRDS_TMP)/*; do \
	  n=$$(basename $$d); \
	  diff -r -q "$$d" "$(GEN_ROOT)/config/external/$$n" || { \
	    echo "verify-crds-external: config/external/$$n differs from the pinned module; run \`make crds-external\`" >&2; \
	    rm -rf $(GEN_CRDS_TMP); exit 1; }; \
	done; rm -rf $(GEN_CRDS_TMP); echo "verify-crds-external: config/external is up to date"

.DEFAULT_GOAL := $(_gen_saved_default_goal)
