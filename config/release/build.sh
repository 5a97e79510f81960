#!/usr/bin/env bash
# Builds Ironplane's clusterctl release artifacts with kustomize, one
# directory per provider in clusterctl's local-repository layout
# (<out>/<provider-label>/<version>/), so a clusterctl config can point at the
# components files with file:// URLs as they are:
#
#   infrastructure-ironplane-kvm/vX.Y.Z/    infrastructure-components.yaml metadata.yaml
#                                           cluster-template.yaml clusterclass-ironplane-kvm.yaml
#                                           cloud-provider-components.yaml
#   infrastructure-ironplane-metal/vX.Y.Z/  infrastructure-components.yaml metadata.yaml
#                                           cluster-template.yaml clusterclass-ironplane-metal.yaml
#   bootstrap-ironplane-kairos/vX.Y.Z/      bootstrap-components.yaml metadata.yaml
#   runtime-extension-ironplane/vX.Y.Z/     runtime-extension-components.yaml metadata.yaml
#                                           extensionconfig.yaml
#
# The version is package.json's. Components come from config/release/<label>
# (kustomize, with --load-restrictor LoadRestrictionsNone because they include
# config/crd, config/rbac, config/webhook and config/extension files, which
# carry no kustomization of their own); cluster templates from
# templates/cluster-template-<kvm|metal>.yaml (each provider's default
# flavor); ClusterClass definitions from clusterclasses/.
#
# Usage: config/release/build.sh [out-dir]   (default: out)
# `make release-manifests` runs it and then checks the result
# (test/e2e/clusterctl.ts verifyRelease).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$ROOT/out}"
KUSTOMIZE="${KUSTOMIZE:-${BIN_DIR:-$ROOT/bin}/kustomize}"

if [[ ! -x "$KUSTOMIZE" ]]; then
  echo "release-manifests: kustomize not found at $KUSTOMIZE: run 'make tools' (or hack/tools/build.sh kustomize)" >&2
  exit 1
fi
if ! command -v node >/dev/null 2>&1; then
  echo "release-manifests: Node.js is required to read the version from package.json" >&2
  exit 1
fi
VERSION="v$(node -p 'require(process.argv[1]).version' "$ROOT/package.json")"

# label|components file|templates/ flavor|clusterclasses/ name|extra kustomization (dir -> file)
PROVIDERS=(
  "infrastructure-ironplane-kvm|infrastructure-components.yaml|kvm|ironplane-kvm|cloud-provider:cloud-provider-components.yaml"
  "infrastructure-ironplane-metal|infrastructure-components.yaml|metal|ironplane-metal|"
  "bootstrap-ironplane-kairos|bootstrap-components.yaml|||"
  "runtime-extension-ironplane|runtime-extension-components.yaml|||extensionconfig:extensionconfig.yaml"
)

build() {
  local dir="$1" file="$2" log
  log="$(mktemp)"
  if ! "$KUSTOMIZE" build --load-restrictor LoadRestrictionsNone "$dir" >"$file" 2>"$log"; then
    echo "release-manifests: kustomize build ${dir#"$ROOT"/} failed:" >&2
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

mkdir -p "$OUT"
STAGE="$(mktemp -d "$OUT/.stage.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT

for spec in "${PROVIDERS[@]}"; do
  IFS='|' read -r label components flavor class extra <<<"$spec"
  dest="$STAGE/$label/$VERSION"
  mkdir -p "$dest"
  build "$ROOT/config/release/$label" "$dest/$components"
  if [[ -n "$extra" ]]; then
    build "$ROOT/config/release/$label/${extra%%:*}" "$dest/${extra#*:}"
  fi
  cp "$ROOT/metadata.yaml" "$dest/metadata.yaml"
  [[ -n "$flavor" ]] && cp "$ROOT/templates/cluster-template-$flavor.yaml" "$dest/cluster-template.yaml"
  [[ -n "$class" ]] && cp "$ROOT/clusterclasses/$class.yaml" "$dest/clusterclass-$class.yaml"
  echo "  built       $label/$VERSION"
done

# Replace each provider's directory only once every build has succeeded.
for spec in "${PROVIDERS[@]}"; do
  label="${spec%%|*}"
  rm -rf "${OUT:?}/$label"
  mv "$STAGE/$label" "$OUT/$label"
done
echo "release-manifests: $VERSION into $OUT"
