#!/usr/bin/env bash
# The pieces of the test world's real node (test/harness/node.ts) that are not
# built from hack/tools/kube, all under bin/node/:
#
#   debian   Debian's containerd, runc, CNI plugins and iptables (with the
#            libraries a minimal Debian 12 lacks), unpacked, never installed:
#            installing would start (or, beside Docker's containerd.io,
#            replace) the host's containerd. bin/node/sbin holds the names the
#            kubelet, kube-proxy and the CNI plugins call (iptables, ...).
#   image    bin/node/images/node-util.tar: an OCI archive of one static Go
#            program (hack/tools/node/util) that is the Pod sandbox's pause
#            process, the node's in-namespace path to the apiserver, and the
#            test Pods' probe; imported with `ctr -n k8s.io images import`.
#            The program itself is also bin/node/node-util.
#
# Called by `make tools`; each part is skipped when its stamp matches.
# Usage: hack/tools/node/build.sh [debian|image...]   (default: both)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
BIN="${BIN_DIR:-$ROOT/bin}"
OUT="$BIN/node"
STAMPS="$BIN/.stamps"
mkdir -p "$STAMPS"

NODE_PACKAGES=(containerd runc containernetworking-plugins iptables)
# iptables' libraries that Debian 12's minimal images lack (extracted only when not installed).
NODE_LIBS=(libip4tc2 libip6tc2 libxtables12 libnftnl11 libmnl0 libnetfilter-conntrack3 libnfnetlink0)
IMAGE_NAME=ironplane.dev/node-util:v1

stamp_of() {
  cat "${BASH_SOURCE[0]}" "$@" | sha256sum | cut -d' ' -f1
}

fetch_debian() {
  local want stamp="$STAMPS/node-debian" work start=$SECONDS pkgs=() lib deb missing="" b
  want="$(stamp_of <(echo "${NODE_PACKAGES[*]} ${NODE_LIBS[*]}"))"
  if [[ -x "$OUT/debian/usr/bin/containerd" && -x "$OUT/sbin/iptables" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "  up to date  node packages (Debian ${NODE_PACKAGES[*]} in bin/node/debian)"
    return 0
  fi
  command -v apt-get >/dev/null && command -v dpkg >/dev/null || {
    echo "make tools: bin/node needs Debian's apt-get and dpkg (containerd, runc, CNI plugins and iptables come from Debian's packages)" >&2
    return 1
  }
  echo "  fetching    node packages (Debian: ${NODE_PACKAGES[*]})"
  pkgs=("${NODE_PACKAGES[@]}")
  for lib in "${NODE_LIBS[@]}"; do
    dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q 'install ok installed' || pkgs+=("$lib")
  done
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  # apt-get download needs package lists; a fresh machine may have none yet.
  apt-cache show containerd >/dev/null 2>&1 || { echo "  updating    apt package lists"; apt-get update -qq >/dev/null; }
  echo "  downloading ${pkgs[*]}"
  if ! (cd "$work" && apt-get download -qq "${pkgs[@]}") >"$work/apt.log" 2>&1; then
    echo "make tools: apt-get download ${pkgs[*]} failed:" >&2
    tail -n 20 "$work/apt.log" >&2
    return 1
  fi
  rm -rf "$OUT/debian.tmp" "$OUT/sbin.tmp"
  mkdir -p "$OUT/debian.tmp" "$OUT/sbin.tmp"
  for deb in "$work"/*.deb; do
    echo "  unpacking   $(basename "$deb")"
    dpkg -x "$deb" "$OUT/debian.tmp"
    dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb" >>"$OUT/debian.tmp/VERSIONS"
  done
  # The names update-alternatives would have made: the nf_tables backend.
  for b in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -s ../debian/usr/sbin/xtables-nft-multi "$OUT/sbin.tmp/$b"
  done
  local ld="$OUT/debian.tmp/usr/lib/x86_64-linux-gnu"
  for b in usr/bin/containerd usr/bin/containerd-shim-runc-v2 usr/bin/ctr usr/sbin/runc usr/sbin/xtables-nft-multi usr/lib/cni/bridge; do
    missing+="$(LD_LIBRARY_PATH="$ld" ldd "$OUT/debian.tmp/$b" | awk '/not found/ {print "  " $1}')"
  done
  if [[ -n "$missing" ]]; then
    echo "make tools: bin/node: shared libraries not found:$missing" >&2
    return 1
  fi
  rm -rf "$OUT/debian" "$OUT/sbin"
  mv "$OUT/debian.tmp" "$OUT/debian"
  mv "$OUT/sbin.tmp" "$OUT/sbin"
  echo "$want" >"$stamp"
  echo "  fetched     node packages ($(awk '$1 == "containerd" || $1 == "runc" {printf "%s %s  ", $1, $2}' "$OUT/debian/VERSIONS")) in $((SECONDS - start))s"
}

# sha256 hex of a file, and its size in bytes.
digest() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

build_image() {
  local want stamp="$STAMPS/node-image" work start=$SECONDS layer diffid ldigest cfg cdigest man mdigest
  want="$(stamp_of "$HERE/util/go.mod" "$HERE/util/main.go" <(go env GOVERSION; echo "$IMAGE_NAME"))"
  if [[ -f "$OUT/images/node-util.tar" && -x "$OUT/node-util" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "  up to date  node image ($IMAGE_NAME in bin/node/images/node-util.tar)"
    return 0
  fi
  echo "  building    node image ($IMAGE_NAME from hack/tools/node/util)"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$work/rootfs" "$work/oci/blobs/sha256"
  if ! (cd "$HERE/util" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/rootfs/node-util" .) >"$work/build.log" 2>&1; then
    echo "make tools: building hack/tools/node/util failed:" >&2
    tail -n 40 "$work/build.log" >&2
    return 1
  fi
  # A reproducible layer: fixed owner, mode and time.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --mode=0755 -C "$work/rootfs" -cf "$work/layer.tar" node-util
  diffid="$(digest "$work/layer.tar")"
  gzip -n -9 "$work/layer.tar"
  layer="$work/layer.tar.gz"
  ldigest="$(digest "$layer")"
  mv "$layer" "$work/oci/blobs/sha256/$ldigest"
  cfg="$work/config.json"
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/node-util"],"Cmd":["pause"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diffid" >"$cfg"
  cdigest="$(digest "$cfg")"
  man="$work/manifest.json"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$cdigest" "$(size "$cfg")" "$ldigest" "$(size "$work/oci/blobs/sha256/$ldigest")" >"$man"
  mdigest="$(digest "$man")"
  mv "$cfg" "$work/oci/blobs/sha256/$cdigest"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$mdigest" "$(size "$man")" "$IMAGE_NAME" "${IMAGE_NAME##*:}" >"$work/oci/index.json"
  mv "$man" "$work/oci/blobs/sha256/$mdigest"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
  mkdir -p "$OUT/images"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/oci" -cf "$OUT/images/node-util.tar.tmp" oci-layout index.json blobs
  mv "$OUT/images/node-util.tar.tmp" "$OUT/images/node-util.tar"
  # The same program runs on the node itself (its end of the path to the apiserver).
  cp "$work/rootfs/node-util" "$OUT/node-util"
  echo "$IMAGE_NAME" >"$OUT/images/node-util.name"
  echo "$want" >"$stamp"
  echo "  built       node image in $((SECONDS - start))s"
}

parts=("$@")
[[ ${#parts[@]} -eq 0 ]] && parts=(debian image)
for p in "${parts[@]}"; do
  case "$p" in
    debian) fetch_debian ;;
    image) build_image ;;
    *) echo "usage: hack/tools/node/build.sh [debian|image...]" >&2; exit 2 ;;
  esac
done
