#!/usr/bin/env bash
# Fills .protos/ (git-ignored) with the proto include tree used by @flotilla/protos.
#
# Sources:
#   - containerd API protos, gogoproto, google/protobuf, google/rpc from the
#     Debian -dev packages under /usr/share/gocode (installed by setup.sh);
#   - the Kubernetes CRI v1 api.proto from Debian's containerd *source* package
#     (vendor/k8s.io/cri-api/...), fetched with a private deb-src list derived
#     from the machine's own apt sources. The machine's apt config is not touched.
#
# Idempotent: builds into a temp folder, then renames it over .protos/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
GOCODE=/usr/share/gocode/src/github.com
CTRD=$GOCODE/containerd/containerd
CACHE=$ROOT/.setup/src-cache
CRI_MEMBER='vendor/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto'

log() { echo "fetch-protos: $*" >&2; }
die() { echo "fetch-protos: ERROR: $*" >&2; exit 1; }

need_file() { [[ -f $1 ]] || die "missing $1 (is the Debian package '$2' installed? run scripts/setup.sh)"; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
OUT=$ROOT/.protos.tmp.$$
rm -rf "$OUT"
trap 'rm -rf "$TMP" "$OUT"' EXIT

# --- copy a file keeping a destination path ----------------------------------
put() { # put <src> <dest-rel> <deb-package>
  need_file "$1" "$3"
  mkdir -p "$OUT/$(dirname "$2")"
  cp "$1" "$OUT/$2"
}

# --- containerd API + extras -------------------------------------------------
[[ -d $CTRD/api ]] || die "missing $CTRD/api (install golang-github-containerd-containerd-dev)"
n=0
while IFS= read -r -d '' f; do
  rel=${f#"$GOCODE/"}
  put "$f" "github.com/$rel" golang-github-containerd-containerd-dev
  n=$((n + 1))
done < <(find "$CTRD/api" -name '*.proto' -print0)
(( n > 0 )) || die "no .proto files found under $CTRD/api"
for rel in protobuf/plugin/fieldpath.proto runtime/v2/task/shim.proto runtime/v2/runc/options/oci.proto; do
  put "$CTRD/$rel" "github.com/containerd/containerd/$rel" golang-github-containerd-containerd-dev
done

# cgroups v1 metrics (the Any that task Stats/Metrics return)
put "$GOCODE/containerd/cgroups/stats/v1/metrics.proto" github.com/containerd/cgroups/stats/v1/metrics.proto golang-github-containerd-cgroups-dev

# --- gogoproto, google/protobuf, google/rpc ----------------------------------
put "$GOCODE/gogo/protobuf/gogoproto/gogo.proto" gogoproto/gogo.proto golang-github-gogo-protobuf-dev
gp=$GOCODE/gogo/protobuf/protobuf/google/protobuf
compgen -G "$gp/*.proto" >/dev/null || die "no google/protobuf protos in $gp (install golang-github-gogo-protobuf-dev)"
for f in "$gp"/*.proto; do
  put "$f" "google/protobuf/$(basename "$f")" golang-github-gogo-protobuf-dev
done
put "$GOCODE/gogo/googleapis/google/rpc/status.proto" google/rpc/status.proto golang-github-gogo-googleapis-dev

# --- CRI api.proto from the containerd source package ------------------------
find_orig() { compgen -G "$CACHE/containerd_*.orig.tar.xz" | sort | tail -n 1 || true; }

orig=$(find_orig)
if [[ -z $orig ]]; then
  log "downloading Debian containerd source package (for CRI api.proto)"
  parts=$TMP/parts lists=$TMP/lists
  mkdir -p "$parts" "$lists/partial" "$CACHE"
  found=0
  # deb822 .sources files (*.disabled* files don't match the glob): keep enabled
  # stanzas whose Suites mention bookworm (drops non-Debian repos), Types -> deb-src.
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk -v RS= -v ORS='\n\n' '
      /(^|\n)Suites:[^\n]*bookworm/ && /(^|\n)Types:[^\n]*deb/ && !/(^|\n)Enabled:[ \t]*no/ {
        gsub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print
      }' "$f" > "$parts/$(basename "$f")"
    [[ -s $parts/$(basename "$f") ]] && found=1 || rm -f "$parts/$(basename "$f")"
  done
  # One-line format: /etc/apt/sources.list and sources.list.d/*.list.
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    sed -nE '/^[[:space:]]*deb[[:space:]].*[[:space:]]bookworm/ s/^([[:space:]]*)deb[[:space:]]/\1deb-src /p' "$f" \
      > "$parts/$(basename "$f" .list)-src.list"
    [[ -s $parts/$(basename "$f" .list)-src.list ]] && found=1 || rm -f "$parts/$(basename "$f" .list)-src.list"
  done
  (( found )) || die "no Debian bookworm 'deb' entries found in /etc/apt/sources.list{,.d/*.sources,.d/*.list}"

  APT_OPTS=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$parts"
            -o "Dir::State::Lists=$lists" -o Debug::NoLocking=1
            -o APT::Sandbox::User=root)
  apt-get "${APT_OPTS[@]}" -qq update >&2 || die "apt-get update with private deb-src list failed"
  mkdir -p "$TMP/dl"
  (cd "$TMP/dl" && apt-get "${APT_OPTS[@]}" -qq source --download-only containerd >&2) \
    || die "apt-get source --download-only containerd failed"
  dl=$(compgen -G "$TMP/dl/containerd_*.orig.tar.xz" | head -n 1 || true)
  [[ -n $dl ]] || die "containerd source download produced no *.orig.tar.xz"
  cp "$TMP"/dl/containerd_* "$CACHE"/
  orig=$(find_orig)
else
  log "using cached $(basename "$orig")"
fi

mkdir -p "$TMP/x"
tar -xJf "$orig" -C "$TMP/x" --wildcards "*/$CRI_MEMBER" \
  || die "$CRI_MEMBER not found in $(basename "$orig")"
cri=$(find "$TMP/x" -path "*/$CRI_MEMBER" | head -n 1)
[[ -n $cri ]] || die "$CRI_MEMBER not found in $(basename "$orig")"
put "$cri" k8s.io/cri-api/pkg/apis/runtime/v1/api.proto "containerd (source)"
# CRI imports gogo as "github.com/gogo/protobuf/gogoproto/gogo.proto" while the
# containerd protos use "gogoproto/gogo.proto". protobufjs dedups imports by path,
# so two copies of gogo.proto in one Root fail with "duplicate name ... in
# Namespace .gogoproto". Normalise CRI's import to the single copy we ship.
sed -i 's#^import "github.com/gogo/protobuf/gogoproto/gogo.proto";#import "gogoproto/gogo.proto";#' \
  "$OUT/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto"
grep -q '^import "gogoproto/gogo.proto";' "$OUT/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto" \
  || die "CRI api.proto: expected gogo.proto import not found (upstream layout changed?)"

# --- swap in -----------------------------------------------------------------
rm -rf "$ROOT/.protos.old"
[[ -e $ROOT/.protos ]] && mv "$ROOT/.protos" "$ROOT/.protos.old"
mv "$OUT" "$ROOT/.protos"
rm -rf "$ROOT/.protos.old"
log "wrote $(find "$ROOT/.protos" -name '*.proto' | wc -l) proto files to .protos/"
