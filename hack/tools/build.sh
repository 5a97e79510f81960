#!/usr/bin/env bash
# Builds the pinned upstream test binaries into bin/ from the wrapper modules
# in hack/tools/<module>. A tool is rebuilt only when its module's go.mod,
# go.sum, this script, or its build flags change; otherwise it is skipped, so a
# second `make tools` finishes in seconds.
#
# Usage: hack/tools/build.sh [tool...]   (default: every tool)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${BIN_DIR:-$ROOT/bin}"
STAMPS="$BIN/.stamps"
mkdir -p "$BIN" "$STAMPS"

# Go must be present; say so clearly instead of failing deep inside a build.
if ! command -v go >/dev/null 2>&1; then
  echo "make tools: Go is required (>= 1.25) to build the upstream test binaries; install Go and retry" >&2
  exit 1
fi

# Version stamped into kube-apiserver/kube-controller-manager. Without it they
# report v0.0.0-master and CAPI refuses them as older than v1.20.
# The version a wrapper module requires of a module, from either go.mod form:
# "require mod v1.2.3" or a line inside a require block.
required_version() {
  local v
  v="$(awk -v m="$2" '($1 == "require" && $2 == m) {print $3; exit} ($1 == m && $2 ~ /^v/) {print $2; exit}' "$ROOT/hack/tools/$1/go.mod")"
  if [[ -z "$v" ]]; then
    echo "make tools: hack/tools/$1/go.mod does not require $2" >&2
    return 1
  fi
  echo "$v"
}

kube_version() {
  required_version kube k8s.io/kubernetes
}

kube_ldflags() {
  local v major minor
  v="$(kube_version)" || return 1
  major="${v#v}"; major="${major%%.*}"
  minor="${v#v*.}"; minor="${minor%%.*}"
  printf -- '-s -w -X k8s.io/component-base/version.gitVersion=%s -X k8s.io/component-base/version.gitMajor=%s -X k8s.io/component-base/version.gitMinor=%s -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=%s -X k8s.io/client-go/pkg/version.gitMajor=%s -X k8s.io/client-go/pkg/version.gitMinor=%s' \
    "$v" "$major" "$minor" "$v" "$major" "$minor"
}

capi_ldflags() {
  local v
  v="$(required_version capi sigs.k8s.io/cluster-api)"
  printf -- '-s -w -X sigs.k8s.io/cluster-api/version.gitVersion=%s -X sigs.k8s.io/cluster-api/version.gitMajor=1 -X sigs.k8s.io/cluster-api/version.gitMinor=%s' \
    "$v" "$(echo "$v" | cut -d. -f2)"
}

bmo_ldflags() {
  printf -- '-s -w -X github.com/metal3-io/baremetal-operator/pkg/version.Raw=%s' \
    "$(required_version bmo github.com/metal3-io/baremetal-operator)"
}

# tool -> "module|package|ldflags-function"
declare -A TOOLS=(
  [etcd]="etcd|go.etcd.io/etcd/server/v3|"
  [kube-apiserver]="kube|k8s.io/kubernetes/cmd/kube-apiserver|kube_ldflags"
  [kube-controller-manager]="kube|k8s.io/kubernetes/cmd/kube-controller-manager|kube_ldflags"
  [kubeadm]="kube|k8s.io/kubernetes/cmd/kubeadm|kube_ldflags"
  [kube-scheduler]="kube|k8s.io/kubernetes/cmd/kube-scheduler|kube_ldflags"
  [kube-proxy]="kube|k8s.io/kubernetes/cmd/kube-proxy|kube_ldflags"
  [kubelet]="kube|k8s.io/kubernetes/cmd/kubelet|kube_ldflags"
  [kubectl]="kube|k8s.io/kubernetes/cmd/kubectl|kube_ldflags"
  [capi-manager]="capi|sigs.k8s.io/cluster-api|capi_ldflags"
  [clusterctl]="capi|sigs.k8s.io/cluster-api/cmd/clusterctl|capi_ldflags"
  [capi-test-extension]="capi-test-extension|sigs.k8s.io/cluster-api/test/extension|capi_ldflags"
  [baremetal-operator]="bmo|github.com/metal3-io/baremetal-operator|bmo_ldflags"
  [kamaji-cp-provider]="kamaji|github.com/clastix/cluster-api-control-plane-provider-kamaji|"
  [kustomize]="kustomize|sigs.k8s.io/kustomize/kustomize/v5|"
  [sveltos-addon-controller]="sveltos|github.com/projectsveltos/addon-controller/cmd|"
)
ORDER=(etcd kube-apiserver kube-controller-manager kubeadm kube-scheduler kube-proxy kubelet kubectl capi-manager clusterctl capi-test-extension baremetal-operator kamaji-cp-provider kustomize sveltos-addon-controller)

build_one() {
  local tool="$1" spec module pkg flagsfn ldflags stamp want
  spec="${TOOLS[$tool]:-}"
  if [[ -z "$spec" ]]; then
    echo "make tools: unknown tool '$tool' (known: ${ORDER[*]})" >&2
    return 1
  fi
  IFS='|' read -r module pkg flagsfn <<<"$spec"
  ldflags=""
  [[ -n "$flagsfn" ]] && ldflags="$($flagsfn)"
  want="$(cat "$ROOT/hack/tools/$module/go.mod" "$ROOT/hack/tools/$module/go.sum" "${BASH_SOURCE[0]}" \
    <(echo "$pkg $ldflags $(go env GOVERSION)") | sha256sum | cut -d' ' -f1)"
  stamp="$STAMPS/$tool"
  if [[ -x "$BIN/$tool" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "  up to date  $tool"
    return 0
  fi
  echo "  building    $tool ($pkg from hack/tools/$module)"
  local start=$SECONDS log
  log="$(mktemp)"
  if ! (cd "$ROOT/hack/tools/$module" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$BIN/$tool.tmp" "$pkg") >"$log" 2>&1; then
    echo "make tools: building $tool failed ($pkg in hack/tools/$module):" >&2
    tail -n 40 "$log" >&2
    rm -f "$log" "$BIN/$tool.tmp"
    return 1
  fi
  rm -f "$log"
  mv "$BIN/$tool.tmp" "$BIN/$tool"
  echo "$want" >"$stamp"
  echo "  built       $tool in $((SECONDS - start))s"
}

tools=("$@")
[[ ${#tools[@]} -eq 0 ]] && tools=("${ORDER[@]}")
for t in "${tools[@]}"; do
  build_one "$t"
done
