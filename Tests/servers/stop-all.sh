#!/usr/bin/env bash
# stop-all.sh - stop both object stores started (or reused) by start-all.sh.
#
# Usage:  bash Tests/servers/stop-all.sh [--purge]      (from any directory)
#
# Stops the SAIO in SAIO_DIR and the Ceph cluster in CEPH_DIR. Those folders come from
# the environment, else from servers.env (SAIO_DIR=, RGW_CEPH_DIR=: the instances that
# start-all.sh used, possibly reused ones), else the defaults /tmp/saio and
# /tmp/chunkvol-ceph. The default Ceph folder is stopped too when servers.env named
# another one. Only processes recorded in those folders' pid files are signalled (see
# stop-saio.sh / stop-ceph-rgw.sh). --purge also deletes the data folders.
# servers.env is removed, since it would describe servers that are gone.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENV_FILE=${SERVERS_ENV:-$HERE/servers.env}
PURGE=""
for a in "$@"; do
  case $a in
    --purge) PURGE=--purge ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
  esac
done

T0=${EPOCHREALTIME/./}
elapsed() { local ms=$(( (${EPOCHREALTIME/./} - T0) / 1000 )); printf '%d.%03ds' $((ms / 1000)) $((ms % 1000)); }
log() { printf '[stop-all %8s] %s\n' "$(elapsed)" "$*"; }

env_value() { # KEY -> value from servers.env (empty if none)
  [ -f "$ENV_FILE" ] || return 0
  sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1
}

saio_dirs=${SAIO_DIR:-$(env_value SAIO_DIR)}
saio_dirs=${saio_dirs:-/tmp/saio}
ceph_dirs=${CEPH_DIR:-}
if [ -z "$ceph_dirs" ]; then
  rec=$(env_value RGW_CEPH_DIR)
  ceph_dirs=/tmp/chunkvol-ceph
  [ -n "$rec" ] && [ "$rec" != /tmp/chunkvol-ceph ] && ceph_dirs="$rec /tmp/chunkvol-ceph"
fi

stop_saio() {
  local d rc=0
  for d in $saio_dirs; do
    [ -d "$d" ] || continue
    log "stopping SAIO in $d"
    bash "$HERE/swift-saio/stop-saio.sh" "$d" $PURGE 2>&1 | sed 's/^/  /' || rc=1
  done
  return $rc
}
stop_ceph() {
  local d rc=0
  for d in $ceph_dirs; do
    [ -d "$d" ] || continue
    log "stopping Ceph in $d"
    CEPH_DIR=$d bash "$HERE/ceph-rgw/stop-ceph-rgw.sh" $PURGE 2>&1 | sed 's/^/  /' || rc=1
  done
  return $rc
}

rc=0
stop_saio & SAIO_BG=$!     # both in parallel: each takes up to ~1 s
stop_ceph || rc=1
wait "$SAIO_BG" || rc=1
rm -f "$ENV_FILE"
log "done"
exit $rc
