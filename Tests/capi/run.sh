#!/usr/bin/env bash
# Tests/capi/run.sh - the C API test (Spec/c-api.md): installs libchunkvol with
# `make install PREFIX=<temporary folder>`, checks its exported symbols and that programs find it
# without LD_LIBRARY_PATH, builds Tests/capi/daemon_test.c and the README's C example through the
# installed pkg-config file, and runs daemon_test against the Local backend and the real servers
# (SAIO S3, SAIO Swift with TempAuth and with Keystone v3, RGW S3; endpoints and credentials from
# Tests/servers/servers.env), each
# plainly and under valgrind memcheck (Tests/capi/valgrind.supp says what is suppressed and why).
#
# Usage: bash Tests/capi/run.sh          (servers started by Tests/servers/start-all.sh)
#   CI=true          a missing server or valgrind fails the test instead of skipping it
#   CAPI_VALGRIND=0  skip the valgrind runs (outside CI only)
#   KEEP_WORK=1      keep the temporary folder (kept anyway when something failed)
# Exit status: 0 when everything ran and passed, 1 otherwise.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
T0=$SECONDS
log() { printf '[capi %4ds] %s\n' $((SECONDS - T0)) "$*"; }
IS_CI=0
case "${CI:-}" in ""|false|0) ;; *) IS_CI=1 ;; esac
if ! command -v swift-build >/dev/null && [ -x /opt/swift/usr/bin/swift-build ]; then
  PATH=$PATH:/opt/swift/usr/bin
fi
unset LD_LIBRARY_PATH   # the installed library must be found through its rpath alone

WORK=$(mktemp -d /tmp/capi-test.XXXXXX)
PREFIX=$WORK/prefix
failed=0
fail() { log "FAIL: $*"; failed=1; }
skip() { if [ $IS_CI = 1 ]; then fail "$* (CI=true: nothing may be skipped)"; else log "SKIP: $*"; fi; }

# ------------------------------------------------------------ install --
log "make install PREFIX=$PREFIX"
make -s install PREFIX="$PREFIX" > "$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; fail "make install"; exit 1; }
tail -1 "$WORK/install.log"
for f in lib/libchunkvol.so include/chunkvol.h lib/pkgconfig/chunkvol.pc; do
  [ -f "$PREFIX/$f" ] || fail "make install did not install $f"
done
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
exports=$(nm -D --defined-only "$PREFIX/lib/libchunkvol.so" | awk '$2 ~ /^[A-Z]$/ && $3 != "CHUNKVOL_1" { sub(/@.*/, "", $3); print $3 }' | tr '\n' ' ')
log "exported: $exports"
[ "$(echo $exports | wc -w)" = 13 ] || fail "libchunkvol.so exports $(echo $exports | wc -w) symbols, expected the 13 of chunkvol.h"

# --------------------------------------------------------------- build --
CFLAGS="-std=c11 -Wall -Wextra -Werror -pthread -g"
command -v cc >/dev/null || { fail "no C compiler named cc (Debian: apt-get install gcc)"; exit 1; }
# shellcheck disable=SC2046
cc $CFLAGS -o "$WORK/daemon_test" Tests/capi/daemon_test.c $(pkg-config --cflags --libs chunkvol) \
  || { fail "daemon_test.c does not build with pkg-config chunkvol"; exit 1; }
# The README's example, exactly as shown, with the command shown.
awk '/<!-- c-api-example -->/ { on = 1; next } on && /^```c/ { inside = 1; next } inside && /^```/ { exit } inside { print }' \
  README.md > "$WORK/example.c"
[ -s "$WORK/example.c" ] || fail "no C example after <!-- c-api-example --> in README.md"
(cd "$WORK" && cc -Wall -Wextra -Werror example.c $(pkg-config --cflags --libs chunkvol) -o example) \
  || fail "the README's C example does not compile as shown"
if ldd "$WORK/daemon_test" | grep -q "libchunkvol.so => $PREFIX/lib/libchunkvol.so"; then
  log "daemon_test finds $PREFIX/lib/libchunkvol.so through its rpath"
else
  ldd "$WORK/daemon_test"; fail "daemon_test does not find libchunkvol.so without LD_LIBRARY_PATH"
fi
if ldd "$PREFIX/lib/libchunkvol.so" | grep -qi swift; then
  fail "libchunkvol.so needs Swift runtime libraries: $(ldd "$PREFIX/lib/libchunkvol.so" | grep -i swift | tr -s ' \t' ' ')"
fi
if [ -x "$WORK/example" ]; then
  (cd "$WORK" && env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY ./example "backend=local,path=$WORK/example-data/store,cache=$WORK/example-data/cache") \
    > "$WORK/example.out" 2>&1 && log "README example: $(tail -1 "$WORK/example.out")" \
    || { cat "$WORK/example.out"; fail "the README's C example failed"; }
fi

# ---------------------------------------------------------------- runs --
VALGRIND=1
if [ "${CAPI_VALGRIND:-1}" = 0 ] && [ $IS_CI = 0 ]; then VALGRIND=0; log "valgrind runs off (CAPI_VALGRIND=0)"
elif ! command -v valgrind >/dev/null; then VALGRIND=0; skip "valgrind is not installed (bash .ci/setup installs it)"; fi

# run_case NAME OPTIONS [VAR=VALUE...]: daemon_test plainly, then under valgrind, in a clean
# credential environment holding only VAR=VALUE.
run_case() {
  local name=$1 options=$2; shift 2
  local dir="$WORK/$name"
  local clean=(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE
               -u ST_AUTH -u ST_USER -u ST_KEY)
  local v
  for v in $(compgen -e | grep '^OS_'); do clean+=(-u "$v"); done
  clean+=("$@")
  mkdir -p "$dir/plain" "$dir/valgrind"
  local t=$SECONDS
  if "${clean[@]}" "$WORK/daemon_test" "$options" "$dir/plain" > "$dir/plain.log" 2>&1; then
    log "$name: $(tail -1 "$dir/plain.log") ($((SECONDS - t)) s)"
  else
    cat "$dir/plain.log"; fail "$name: daemon_test"
  fi
  [ $VALGRIND = 1 ] || return 0
  t=$SECONDS
  if "${clean[@]}" valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,possible \
       --suppressions="$ROOT/Tests/capi/valgrind.supp" --num-callers=40 \
       "$WORK/daemon_test" "$options" "$dir/valgrind" > "$dir/valgrind.log" 2>&1; then
    log "$name under valgrind: $(grep -o 'daemon_test: .*' "$dir/valgrind.log" | tail -1); $(grep -o 'ERROR SUMMARY: [0-9]* errors' "$dir/valgrind.log"); definitely lost $(grep -o 'definitely lost: [0-9,]* bytes' "$dir/valgrind.log" | grep -o '[0-9,]* bytes' || echo '0 bytes') ($((SECONDS - t)) s)"
  else
    cat "$dir/valgrind.log"; fail "$name: daemon_test under valgrind"
  fi
}

run_case local "backend=local,path=$WORK/local/store,chunksize=256K"

ENV_FILE=${SERVERS_ENV:-$ROOT/Tests/servers/servers.env}
if [ -f "$ENV_FILE" ]; then
  set -a; . "$ENV_FILE"; set +a
fi
BUCKET=chunkvol-capi
CHUNKCTL=
up() { local port=${1##*:}; port=${port%%/*}; (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
# server_case NAME OPTIONS VAR=VALUE...: creates the bucket or container, then run_case.
server_case() {
  local name=$1 options=$2 endpoint=$3; shift 3
  if [ -z "$endpoint" ] || ! up "$endpoint"; then
    skip "$name: no server (start it with bash Tests/servers/start-all.sh)"; return
  fi
  if [ -z "$CHUNKCTL" ]; then
    swift-build --product chunkctl > "$WORK/chunkctl-build.log" 2>&1 || { cat "$WORK/chunkctl-build.log"; fail "building chunkctl"; return; }
    CHUNKCTL=$(swift-build --show-bin-path)/chunkctl
  fi
  env "$@" "$CHUNKCTL" -o "$options" store create > "$WORK/create-$name.log" 2>&1 \
    || { cat "$WORK/create-$name.log"; fail "$name: chunkctl store create"; return; }
  run_case "$name" "$options" "$@"
}
server_case saio-s3 "backend=s3,endpoint=${SAIO_S3_ENDPOINT:-},region=${SAIO_S3_REGION:-us-east-1},bucket=$BUCKET,chunksize=256K" \
  "${SAIO_S3_ENDPOINT:-}" "AWS_ACCESS_KEY_ID=${SAIO_S3_ACCESS_KEY:-}" "AWS_SECRET_ACCESS_KEY=${SAIO_S3_SECRET_KEY:-}"
server_case saio-swift "backend=swift,endpoint=${SAIO_SWIFT_AUTH:-},container=$BUCKET,chunksize=256K" \
  "${SAIO_SWIFT_AUTH:-}" "ST_USER=${SAIO_SWIFT_USER:-}" "ST_KEY=${SAIO_SWIFT_KEY:-}"
server_case saio-keystone "backend=swift,auth=keystone,endpoint=${KEYSTONE_AUTH_URL:-},region=${KEYSTONE_REGION_NAME:-RegionOne},container=$BUCKET,chunksize=256K" \
  "${KEYSTONE_AUTH_URL:-}" "OS_USERNAME=${KEYSTONE_USERNAME:-}" "OS_PASSWORD=${KEYSTONE_PASSWORD:-}" \
  "OS_PROJECT_NAME=${KEYSTONE_PROJECT_NAME:-}" "OS_USER_DOMAIN_NAME=${KEYSTONE_USER_DOMAIN_NAME:-Default}" \
  "OS_PROJECT_DOMAIN_NAME=${KEYSTONE_PROJECT_DOMAIN_NAME:-Default}"
server_case rgw-s3 "backend=s3,endpoint=${RGW_S3_ENDPOINT:-},region=${RGW_S3_REGION:-us-east-1},bucket=$BUCKET,chunksize=256K" \
  "${RGW_S3_ENDPOINT:-}" "AWS_ACCESS_KEY_ID=${RGW_S3_ACCESS_KEY:-}" "AWS_SECRET_ACCESS_KEY=${RGW_S3_SECRET_KEY:-}"

if [ $failed = 0 ] && [ "${KEEP_WORK:-0}" != 1 ]; then rm -rf "$WORK"; else log "kept $WORK"; fi
log "C API test $([ $failed = 0 ] && echo passed || echo FAILED)"
exit $failed
