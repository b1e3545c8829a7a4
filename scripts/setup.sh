#!/usr/bin/env bash
# Idempotent developer/CI setup for Flotilla. Called by `npm start` / `npm test`.
# Fast when nothing changed: every step is guarded by a cheap check or a stamp
# in .setup/ (git-ignored).
set -euo pipefail

# Debian packages Flotilla needs at build/run/test time. Add new ones here.
DEB_PACKAGES=(
  runc
  crun
  nats-server
  containerd
  golang-github-containerd-containerd-dev
  golang-github-gogo-protobuf-dev
  golang-github-gogo-googleapis-dev
  golang-github-containerd-cgroups-dev
  busybox-static
  docker-registry
  containernetworking-plugins
  iproute2
  procps
  psmisc
  tmux
  xz-utils
  zstd
  ca-certificates
)

cd "$(dirname "${BASH_SOURCE[0]}")/.."
STAMPS=.setup
mkdir -p "$STAMPS"

log() { echo "setup: $*" >&2; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# --- a. Debian packages -------------------------------------------------------
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
if (( ${#missing[@]} )); then
  log "installing Debian packages: ${missing[*]}"
  [[ $(id -u) == 0 ]] && SUDO=() || SUDO=(sudo)
  "${SUDO[@]}" apt-get update -qq >&2
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  log "Debian packages ok"
fi

# --- b. npm dependencies ------------------------------------------------------
lock_sum=$(sha package-lock.json)
if [[ ! -d node_modules || ! -f $STAMPS/npm.stamp || $(<"$STAMPS/npm.stamp") != "$lock_sum" ]]; then
  log "npm ci"
  npm ci --no-audit --no-fund >&2
  echo "$lock_sum" > "$STAMPS/npm.stamp"
else
  log "node_modules ok"
fi

# --- c. protos ------------------------------------------------------------
protos_sum=$(sha scripts/fetch-protos.sh)
if [[ ! -d .protos || ! -f $STAMPS/protos.stamp || $(<"$STAMPS/protos.stamp") != "$protos_sum" ]]; then
  log "fetching protos"
  bash scripts/fetch-protos.sh
  echo "$protos_sum" > "$STAMPS/protos.stamp"
else
  log ".protos ok"
fi

# --- d. build -----------------------------------------------------------------
log "tsc -b"
if [[ -x node_modules/.bin/tsc ]]; then
  node_modules/.bin/tsc -b
else
  npx tsc -b
fi
if [[ -f bin/flotilla ]]; then chmod +x bin/flotilla; fi

# --- e. containerd shim ---------------------------------------------------------
# containerd finds the runtime io.containerd.flotilla.v2 as containerd-shim-flotilla-v2 on PATH.
shim_link=/usr/local/bin/containerd-shim-flotilla-v2
shim_target=$PWD/bin/containerd-shim-flotilla-v2
chmod +x "$shim_target"
if [[ $(readlink "$shim_link" 2>/dev/null) != "$shim_target" ]]; then
  log "linking $shim_link -> $shim_target"
  [[ $(id -u) == 0 ]] && SUDO=() || SUDO=(sudo)
  "${SUDO[@]}" ln -sfn "$shim_target" "$shim_link"
fi
log "done"
