#!/usr/bin/env bash
# The real tenant network of the test world (see adr on the network test world):
#
#   kube-ovn-controller  bin/kube-ovn-controller, built from the kube-OVN module
#                        pinned in hack/tools/kubeovn/go.mod (./cmd/controller).
#   ovn                  bin/ovn/: Debian's OVN and Open vSwitch, unpacked (never
#                        installed: installing would start the host's services),
#                        plus kube-OVN's own NB/SB schemas (bin/ovn/schema/),
#                        all of kube-OVN's CRDs (bin/ovn/crds/; its controller
#                        watches every one of them) and Debian's ping, for
#                        the datapath tests (bin/ovn/bin/ping).
#
# Called by `make tools` after hack/tools/build.sh; each part is skipped when
# its stamp matches (go.mod, go.sum, this script, Go version or package list).
# Usage: hack/tools/kubeovn/build.sh kube-ovn-controller|ovn
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
BIN="${BIN_DIR:-$ROOT/bin}"
STAMPS="$BIN/.stamps"
MODULE=github.com/kubeovn/kube-ovn
mkdir -p "$BIN" "$STAMPS"

# Debian packages unpacked into bin/ovn, and the shared libraries they need
# that a minimal Debian 12 may lack (extracted only when not installed).
OVN_PACKAGES=(openvswitch-common openvswitch-switch ovn-common ovn-central ovn-host iputils-ping)
OVN_LIBS=(libxdp1 libbpf1 libcap-ng0 libnuma1 libssl3 libudev1 libunbound8 libcap2 libidn2-0)

module_version() {
  awk -v m="$MODULE" '($1 == "require" && $2 == m) {print $3; exit} ($1 == m && $2 ~ /^v/) {print $2; exit}' "$HERE/go.mod"
}

# The module's source directory in the module cache (downloaded if missing).
module_dir() {
  local v dir
  v="$(module_version)"
  [[ -n "$v" ]] || { echo "make tools: hack/tools/kubeovn/go.mod does not require $MODULE" >&2; return 1; }
  dir="$(cd "$HERE" && go mod download -json "$MODULE@$v" | awk -F'"' '$2 == "Dir" {print $4}')"
  [[ -d "$dir" ]] || { echo "make tools: cannot download $MODULE@$v" >&2; return 1; }
  echo "$dir"
}

stamp_of() {
  cat "$HERE/go.mod" "$HERE/go.sum" "${BASH_SOURCE[0]}" <(echo "$*") | sha256sum | cut -d' ' -f1
}

build_controller() {
  local want stamp="$STAMPS/kube-ovn-controller" src work start=$SECONDS log
  want="$(stamp_of "kube-ovn-controller $(go env GOVERSION)")"
  if [[ -x "$BIN/kube-ovn-controller" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "  up to date  kube-ovn-controller"
    return 0
  fi
  src="$(module_dir)"
  echo "  building    kube-ovn-controller ($MODULE $(module_version) ./cmd/controller)"
  # The module's go.mod has replace directives, which `go install mod@v`
  # refuses; build from a writable copy of its source instead.
  work="$(mktemp -d)"
  log="$work/build.log"
  trap 'rm -rf "$work"' RETURN
  cp -r "$src" "$work/src"
  chmod -R u+w "$work/src"
  # main() dispatches on the executable's own name: it must be kube-ovn-controller.
  if ! (cd "$work/src" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags '-s -w' -o "$BIN/kube-ovn-controller.tmp" ./cmd/controller) >"$log" 2>&1; then
    echo "make tools: building kube-ovn-controller failed:" >&2
    tail -n 40 "$log" >&2
    rm -f "$BIN/kube-ovn-controller.tmp"
    return 1
  fi
  mv "$BIN/kube-ovn-controller.tmp" "$BIN/kube-ovn-controller"
  echo "$want" >"$stamp"
  echo "  built       kube-ovn-controller in $((SECONDS - start))s"
}

# The schema JSON embedded in kube-OVN's generated libovsdb model
# (`var schema = \`...\``): kube-OVN refuses a server whose schema lacks any
# column of its models, which Debian's older OVN schemas do.
extract_schema() {
  awk '/^var schema = `/ {f = 1; sub(/^var schema = `/, "")} f { if (index($0, "`")) { sub(/`.*/, ""); print; exit } print }' "$1"
}

fetch_ovn() {
  local want stamp="$STAMPS/ovn" out="$BIN/ovn" src work start=$SECONDS pkgs=() lib
  want="$(stamp_of "ovn ${OVN_PACKAGES[*]} ${OVN_LIBS[*]}")"
  if [[ -x "$out/usr/bin/ovn-northd" && -x "$out/bin/ping" && -f "$out/schema/ovn-nb.ovsschema" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "  up to date  ovn (Debian OVN/OVS in bin/ovn)"
    return 0
  fi
  command -v apt-get >/dev/null && command -v dpkg >/dev/null || {
    echo "make tools: bin/ovn needs Debian's apt-get and dpkg (OVN and Open vSwitch come from Debian's packages)" >&2
    return 1
  }
  src="$(module_dir)"
  echo "  fetching    ovn (Debian: ${OVN_PACKAGES[*]})"
  pkgs=("${OVN_PACKAGES[@]}")
  for lib in "${OVN_LIBS[@]}"; do
    dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q 'install ok installed' || pkgs+=("$lib")
  done
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  # apt-get download needs package lists; a fresh machine may have none yet.
  apt-cache show ovn-central >/dev/null 2>&1 || apt-get update -qq >/dev/null
  if ! (cd "$work" && apt-get download -qq "${pkgs[@]}") >"$work/apt.log" 2>&1; then
    echo "make tools: apt-get download ${pkgs[*]} failed:" >&2
    tail -n 20 "$work/apt.log" >&2
    return 1
  fi
  rm -rf "$out.tmp"
  mkdir -p "$out.tmp/schema" "$out.tmp/crds"
  for deb in "$work"/*.deb; do
    dpkg -x "$deb" "$out.tmp"
    dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb" >>"$out.tmp/VERSIONS"
  done
  extract_schema "$src/pkg/ovsdb/ovnnb/model.go" >"$out.tmp/schema/ovn-nb.ovsschema"
  extract_schema "$src/pkg/ovsdb/ovnsb/model.go" >"$out.tmp/schema/ovn-sb.ovsschema"
  cp "$out.tmp/usr/share/openvswitch/vswitch.ovsschema" "$out.tmp/schema/"
  cp "$src/charts/kube-ovn-v2/crds/"*.yaml "$out.tmp/crds/"
  local ld="$out.tmp/usr/lib/x86_64-linux-gnu:$out.tmp/lib/x86_64-linux-gnu" b missing=""
  for b in "$out.tmp/usr/sbin/ovsdb-server" "$out.tmp/usr/lib/openvswitch-switch/ovs-vswitchd" "$out.tmp/usr/bin/ovn-northd" "$out.tmp/usr/bin/ovn-controller" "$out.tmp/usr/bin/ovs-vsctl" "$out.tmp/usr/bin/ovn-nbctl" "$out.tmp/bin/ping"; do
    missing+="$(LD_LIBRARY_PATH="$ld" ldd "$b" | awk '/not found/ {print "  " $1}')"
  done
  if [[ -n "$missing" ]]; then
    echo "make tools: bin/ovn: shared libraries not found:$missing" >&2
    return 1
  fi
  # A schema that ovsdb-tool cannot read would only fail at test time.
  for s in ovn-nb ovn-sb; do
    if ! LD_LIBRARY_PATH="$ld" "$out.tmp/usr/bin/ovsdb-tool" create "$work/$s.db" "$out.tmp/schema/$s.ovsschema"; then
      echo "make tools: the $s schema extracted from $MODULE is not a valid OVSDB schema" >&2
      return 1
    fi
  done
  rm -rf "$out"
  mv "$out.tmp" "$out"
  echo "$want" >"$stamp"
  echo "  fetched     ovn ($(awk '$1 == "ovn-central" || $1 == "openvswitch-switch" {printf "%s %s  ", $1, $2}' "$out/VERSIONS")) in $((SECONDS - start))s"
}

case "${1:-}" in
  kube-ovn-controller) build_controller ;;
  ovn) fetch_ovn ;;
  *)
    echo "usage: $0 kube-ovn-controller|ovn" >&2
    exit 2
    ;;
esac
