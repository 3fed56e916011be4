#!/usr/bin/env bash
# run-all.sh - every test: build packages, both real servers (SAIO with Keystone + Ceph radosgw),
# the fault proxy self-test, then swift-build --build-tests and swift-test with the
# servers' endpoints/credentials (Tests/servers/servers.env) in the environment, then the C API
# test (Tests/capi/run.sh: make install, a daemon-style C program on Local and the servers, valgrind).
#
# Usage:  bash Tests/run-all.sh [swift-test args...]     (from any directory)
#   KEEP_SERVERS=1   leave the servers running at the end (default: stop-all.sh, which
#                    also stops servers that start-all.sh found running and reused)
# Exit status: swift-test's (1 if it passed but the fault proxy self-test or the C API test failed).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
T0=$SECONDS
log() { printf '[run-all %4ds] %s\n' $((SECONDS - T0)) "$*"; }

# /usr/bin/swift is python-swiftclient's CLI: call the toolchain as swift-build/swift-test
if ! command -v swift-build >/dev/null && [ -x /opt/swift/usr/bin/swift-build ]; then
  PATH=$PATH:/opt/swift/usr/bin
fi

# ------------------------------------------------------------- packages --
bash "$ROOT/.ci/setup" || exit 1

# -------------------------------------------------------------- servers --
if [ "${KEEP_SERVERS:-0}" != 1 ]; then
  trap 'log "stopping servers"; bash "$ROOT/Tests/servers/stop-all.sh"' EXIT
fi
log "starting servers"
bash Tests/servers/start-all.sh || { log "start-all.sh failed"; exit 1; }

# ------------------------------------------------------ fault proxy test --
log "fault proxy self-test"
python3 Tests/tools/faultproxy_selftest.py
proxy_rc=$?

# ---------------------------------------------------------- swift tests --
ENV_FILE=${SERVERS_ENV:-$ROOT/Tests/servers/servers.env}
[ -f "$ENV_FILE" ] || { log "no $ENV_FILE after start-all.sh"; exit 1; }
set -a
. "$ENV_FILE"
FAULTPROXY=$ROOT/Tests/tools/faultproxy.py
set +a

log "swift-build --build-tests"
swift-build --build-tests
rc=$?
if [ $rc != 0 ]; then
  log "swift-build failed (exit $rc)"
  exit $rc
fi
log "swift-test $*"
swift-test "$@"
rc=$?
log "C API test"
bash Tests/capi/run.sh
capi_rc=$?
log "swift-test exit $rc; fault proxy self-test exit $proxy_rc; C API test exit $capi_rc"
if [ $rc = 0 ] && { [ $proxy_rc != 0 ] || [ $capi_rc != 0 ]; }; then rc=1; fi
exit $rc
