#!/usr/bin/env bash
# start-all.sh - start (or reuse) both real object stores used by the integration tests:
#   * OpenStack Swift all-in-one (swift-saio/start-saio.sh): TempAuth + s3api on :8080, and a
#     real Keystone v3 beside it on :5000 (SAIO_KEYSTONE=1; TempAuth's account is then
#     TEMPAUTH_test, Keystone's AUTH_<project id>)
#   * Ceph radosgw (ceph-rgw/start-ceph-rgw.sh): S3 + Swift v1 auth on :7480
# then write Tests/servers/servers.env (plain KEY=VALUE lines, no quotes, no export).
#
# Usage:  bash Tests/servers/start-all.sh            (from any directory)
# Stop:   bash Tests/servers/stop-all.sh
#
# Idempotent: a server that already answers on its port with the expected credentials
# is left alone and reused (even one started from another folder, e.g. /tmp/ceph-rgw).
# Missing Debian packages are installed when running as root (apt-get update once).
#
# Knobs: SAIO_DIR (/tmp/saio)  SAIO_PORT (8080)  SAIO_BACKEND_PORT (6210)
#        SAIO_KEYSTONE (1; 0 starts Swift without Keystone)  SAIO_KEYSTONE_PORT (5000)
#        SAIO_KEYSTONE_TOKEN_CACHE_TIME (5: seconds Swift trusts a token it validated, so a
#        revoked token is refused soon; Swift's own default is 300)
#        CEPH_DIR (/tmp/chunkvol-ceph)  RGW_PORT (7480)  CEPH_MON_PORT (3300)
#        CEPH_MON_PORT_V1 (6789)  CEPH_OBJECTSTORE (memstore)  ...see the two READMEs
#        SERVERS_ENV (Tests/servers/servers.env)  SERVERS_LOG_DIR (/tmp/chunkvol-servers)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENV_FILE=${SERVERS_ENV:-$HERE/servers.env}
LOGDIR=${SERVERS_LOG_DIR:-/tmp/chunkvol-servers}
export SAIO_DIR=${SAIO_DIR:-/tmp/saio}
export SAIO_PORT=${SAIO_PORT:-8080}
export SAIO_KEYSTONE=${SAIO_KEYSTONE:-1}
export SAIO_KEYSTONE_PORT=${SAIO_KEYSTONE_PORT:-5000}
export SAIO_KEYSTONE_TOKEN_CACHE_TIME=${SAIO_KEYSTONE_TOKEN_CACHE_TIME:-5}
export CEPH_DIR=${CEPH_DIR:-/tmp/chunkvol-ceph}
export RGW_PORT=${RGW_PORT:-7480}
H=127.0.0.1

SAIO_USER=test:tester SAIO_KEY=testing
# the Keystone identity start-saio.sh provisions (README-keystone.txt)
KS_URL=http://$H:$SAIO_KEYSTONE_PORT/v3 KS_USER=tester KS_PASSWORD=testing KS_PROJECT=test KS_DOMAIN=Default
export S3_ACCESS_KEY=${S3_ACCESS_KEY:-0555b35654ad1656d804}
export S3_SECRET_KEY=${S3_SECRET_KEY:-h7GhxuBLTrlhVUyxSPUKUV8r/2EI4ngqJxD7iBdBYLhwluN30JaT3Q==}
export S3_UID=${S3_UID:-testid}
export SWIFT_SUBUSER=${SWIFT_SUBUSER:-tester}
export SWIFT_KEY=${SWIFT_KEY:-testing}
RGW_USER=$S3_UID:$SWIFT_SUBUSER

CEPH_PKGS="ceph-mon ceph-osd radosgw ceph-common curl"
CEPH_BINS="ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool rados curl"
APT_OPTS=(-o DPkg::Lock::Timeout=600)

T0=${EPOCHREALTIME/./}
elapsed() { local ms=$(( (${EPOCHREALTIME/./} - T0) / 1000 )); printf '%d.%03ds' $((ms / 1000)) $((ms % 1000)); }
log() { printf '[start-all %8s] %s\n' "$(elapsed)" "$*"; }
die() { printf '[start-all %8s] ERROR: %s\n' "$(elapsed)" "$*" >&2; exit 1; }

mkdir -p "$LOGDIR"
# one start-all at a time (fd 9 is closed for every child, so no daemon inherits the lock)
exec 9>"$LOGDIR/start-all.lock"
flock -w 1200 9 || die "another start-all.sh holds $LOGDIR/start-all.lock"

CURL=(curl -sS --noproxy '*' --max-time 10)

# ---------------------------------------------------------------- checks --
# swift_auth URL USER KEY -> prints "TOKEN STORAGE_URL" if v1 auth works and the
# account answers a GET with that token
swift_auth() {
  local url=$1 user=$2 key=$3 hdr tok su code
  hdr=$("${CURL[@]}" -D - -o /dev/null -H "X-Auth-User: $user" -H "X-Auth-Key: $key" "$url" 2>/dev/null | tr -d '\r') || return 1
  tok=$(awk -F': ' 'tolower($1)=="x-auth-token"{print $2; exit}' <<<"$hdr")
  su=$(awk -F': ' 'tolower($1)=="x-storage-url"{print $2; exit}' <<<"$hdr")
  [ -n "$tok" ] && [ -n "$su" ] || return 1
  code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $tok" "$su" 2>/dev/null) || return 1
  case $code in 200|204) echo "$tok $su" ;; *) return 1 ;; esac
}

# s3_list ENDPOINT ACCESS SECRET -> 0 if a SigV4-signed ListBuckets answers 200
# (stdlib python; curl --aws-sigv4 cannot take access keys with a ':' like test:tester)
s3_list() {
  local py
  py=$(command -v python3 || true)
  [ -n "$py" ] || { echo "(no python3: S3 check skipped)"; return 0; }
  "$py" - "$@" <<'EOF'
import datetime, hashlib, hmac, sys, urllib.request
ep, ak, sk = sys.argv[1:4]
region = "us-east-1"
host = ep.split("://", 1)[1].rstrip("/")
amz = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
ph = hashlib.sha256(b"").hexdigest()
signed = "host;x-amz-content-sha256;x-amz-date"
canon = "\n".join(["GET", "/", "", "host:" + host, "x-amz-content-sha256:" + ph,
                   "x-amz-date:" + amz, "", signed, ph])
scope = "%s/%s/s3/aws4_request" % (amz[:8], region)
sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canon.encode()).hexdigest()])
k = ("AWS4" + sk).encode()
for part in (amz[:8], region, "s3", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(ep.rstrip("/") + "/", headers={
    "x-amz-date": amz, "x-amz-content-sha256": ph,
    "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (ak, scope, signed, sig)})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(req, timeout=10) as r:
        body = r.read()
        sys.exit(0 if r.status == 200 and b"ListAllMyBucketsResult" in body else 1)
except Exception as e:
    print("S3 ListBuckets on %s failed: %s" % (ep, e), file=sys.stderr)
    sys.exit(1)
EOF
}

# keystone_ok -> 0 if tester gets a project token whose catalog has an object-store endpoint on
# SAIO_PORT, and Swift accepts that token on it (always 0 when SAIO_KEYSTONE is not 1)
keystone_ok() {
  [ "$SAIO_KEYSTONE" = 1 ] || return 0
  local hdr tok url code
  hdr=$("${CURL[@]}" -D - -o "$LOGDIR/keystone-token.json" -H 'Content-Type: application/json' "$KS_URL/auth/tokens" -d '
    {"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"'$KS_USER'",
     "domain":{"name":"'$KS_DOMAIN'"},"password":"'$KS_PASSWORD'"}}},
     "scope":{"project":{"name":"'$KS_PROJECT'","domain":{"name":"'$KS_DOMAIN'"}}}}}' 2>/dev/null | tr -d '\r') || return 1
  tok=$(awk -F': ' 'tolower($1)=="x-subject-token"{print $2; exit}' <<<"$hdr")
  [ -n "$tok" ] || return 1
  url=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["token"]
print([e["url"] for s in t["catalog"] if s["type"]=="object-store" for e in s["endpoints"] if e["interface"]=="public"][0])' \
        "$LOGDIR/keystone-token.json" 2>/dev/null) || return 1
  case $url in "http://$H:$SAIO_PORT/"*) ;; *) return 1 ;; esac
  code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $tok" "$url" 2>/dev/null) || return 1
  case $code in 200|204) return 0 ;; *) return 1 ;; esac
}
saio_ok() { swift_auth "http://$H:$SAIO_PORT/auth/v1.0" "$SAIO_USER" "$SAIO_KEY" >/dev/null && keystone_ok; }
rgw_ok() {
  swift_auth "http://$H:$RGW_PORT/auth/1.0" "$RGW_USER" "$SWIFT_KEY" >/dev/null &&
    s3_list "http://$H:$RGW_PORT" "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >/dev/null 2>&1
}
port_busy() { (exec 3<>"/dev/tcp/$H/$1") 2>/dev/null; }

# data folder of the SAIO whose proxy serves SAIO_PORT (processes carry SAIO_OWNER=DIR)
saio_dir_in_use() {
  local p d
  for p in /proc/[0-9]*; do
    d=$( { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | sed -n 's/^SAIO_OWNER=//p' | head -n 1) || true
    if [ -n "$d" ] && [ "$( { cat "$d/run/proxy.port"; } 2>/dev/null)" = "$SAIO_PORT" ]; then echo "$d"; return 0; fi
  done
  return 1
}
# CEPH_DIR of the radosgw serving RGW_PORT (radosgw -c DIR/ceph.conf ...)
ceph_dir_in_use() {
  local p conf
  for p in /proc/[0-9]*; do
    [ "$( { cat "$p/comm"; } 2>/dev/null)" = radosgw ] || continue
    conf=$( { tr '\0' '\n' <"$p/cmdline"; } 2>/dev/null | sed -n '/^-c$/{n;p;q}') || true
    if [ -n "$conf" ] && grep -q "endpoint=$H:$RGW_PORT\b" "$conf" 2>/dev/null; then dirname "$conf"; return 0; fi
  done
  return 1
}

# -------------------------------------------------------------- packages --
APT_UPDATED=0
apt_install() { # pkgs...
  local made_policy=0 i
  [ "$(id -u)" = 0 ] || die "missing packages ($*) and not root: run  apt-get install $*"
  export DEBIAN_FRONTEND=noninteractive
  if [ $APT_UPDATED = 0 ]; then
    log "apt-get update"
    for i in 1 2 3 4 5; do
      apt-get "${APT_OPTS[@]}" update -q >>"$LOGDIR/apt.log" 2>&1 && break
      [ $i = 5 ] && die "apt-get update failed, see $LOGDIR/apt.log"
      sleep 10   # e.g. another apt holds the lists lock
    done
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  # never let package scripts start the distro's own services
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
  fi
  if ! apt-get install -y --no-install-recommends "${APT_OPTS[@]}" "$@" >>"$LOGDIR/apt.log" 2>&1 9>&-; then
    [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
    tail -n 20 "$LOGDIR/apt.log" >&2
    die "apt-get install failed, see $LOGDIR/apt.log"
  fi
  [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

missing=""
for b in $CEPH_BINS; do command -v "$b" >/dev/null || missing=1; done
if [ -n "$missing" ]; then
  apt_install $CEPH_PKGS
  log "ceph packages installed"
fi
# SAIO's packages: start-saio.sh installs them itself when missing

# ---------------------------------------------------------------- start --
SAIO_PID="" RGW_PID=""
SAIO_USED="" CEPH_USED="" SAIO_START=0 RGW_START=0

# decide first, so that a conflict stops us before anything is started
if saio_ok; then
  SAIO_USED=$(saio_dir_in_use || echo "$SAIO_DIR")
  log "SAIO already up on :$SAIO_PORT (data $SAIO_USED) - reusing it"
else
  SAIO_START=1
  # one of ours up without Keystone (or other settings): start-saio.sh restarts it in its folder
  SAIO_DIR=$(saio_dir_in_use || echo "$SAIO_DIR")
  SAIO_USED=$SAIO_DIR
fi
if rgw_ok; then
  CEPH_USED=$(ceph_dir_in_use || echo "")
  log "Ceph radosgw already up on :$RGW_PORT (CEPH_DIR ${CEPH_USED:-unknown}) - reusing it"
else
  if port_busy "$RGW_PORT"; then
    die "port $RGW_PORT answers but not with the expected credentials ($RGW_USER / S3 $S3_ACCESS_KEY); stop it or set RGW_PORT"
  fi
  RGW_START=1
  CEPH_USED=$CEPH_DIR
fi

if [ $SAIO_START = 1 ]; then
  log "starting SAIO (data $SAIO_DIR, SAIO_KEYSTONE=$SAIO_KEYSTONE, log $LOGDIR/saio-start.log)"
  ( env -u SAIO_OWNER bash "$HERE/swift-saio/start-saio.sh" "$SAIO_DIR" >"$LOGDIR/saio-start.log" 2>&1 9>&- ) &
  SAIO_PID=$!
fi
if [ $RGW_START = 1 ]; then
  # a broken cluster of ours (some daemon dead): stop what is left of it first
  if compgen -G "$CEPH_DIR/run/*.pid" >/dev/null; then
    log "stopping leftovers of the Ceph cluster in $CEPH_DIR"
    CEPH_DIR=$CEPH_DIR bash "$HERE/ceph-rgw/stop-ceph-rgw.sh" >>"$LOGDIR/ceph-stop.log" 2>&1 9>&- || true
  fi
  log "starting Ceph (CEPH_DIR $CEPH_DIR, log $LOGDIR/ceph-start.log)"
  # rgw dns name = localhost: virtual-hosted S3 (http://BUCKET.localhost:PORT/) works too; libcurl
  # resolves *.localhost to 127.0.0.1 itself. Path-style requests to 127.0.0.1 are unaffected.
  ( RGW_EXTRA_CONF="rgw dns name = localhost${RGW_EXTRA_CONF:+
$RGW_EXTRA_CONF}" bash "$HERE/ceph-rgw/start-ceph-rgw.sh" >"$LOGDIR/ceph-start.log" 2>&1 9>&- ) &
  RGW_PID=$!
fi

fail=0
if [ -n "$SAIO_PID" ]; then
  if wait "$SAIO_PID"; then
    log "SAIO started"
  else
    tail -n 25 "$LOGDIR/saio-start.log" >&2
    log "SAIO start FAILED (see $LOGDIR/saio-start.log)"
    fail=1
  fi
fi
if [ -n "$RGW_PID" ]; then
  if wait "$RGW_PID"; then
    log "Ceph radosgw started"
  else
    tail -n 25 "$LOGDIR/ceph-start.log" >&2
    log "Ceph start FAILED (see $LOGDIR/ceph-start.log)"
    fail=1
  fi
fi
[ $fail = 0 ] || die "a server did not start"

# --------------------------------------------------------------- verify --
# TempAuth GET (token + account GET) on both; S3 ListBuckets (SigV4) on both
wait_ok() { # what fn
  local end=$(( $(date +%s) + 60 ))
  until "$2"; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.5
  done
}
wait_ok SAIO saio_ok || die "SAIO on :$SAIO_PORT does not accept $SAIO_USER / $SAIO_KEY (TempAuth), or Keystone on :$SAIO_KEYSTONE_PORT not $KS_USER"
s3_list "http://$H:$SAIO_PORT" "$SAIO_USER" "$SAIO_KEY" || die "SAIO S3 ListBuckets with $SAIO_USER failed"
log "SAIO verified: TempAuth GET + S3 ListBuckets OK (SAIO_KEYSTONE=$SAIO_KEYSTONE: Keystone token, catalog, account GET OK)"
wait_ok RGW rgw_ok || die "radosgw on :$RGW_PORT does not accept $RGW_USER (Swift auth) / $S3_ACCESS_KEY (S3)"
log "radosgw verified: Swift auth GET + S3 ListBuckets OK"

# ------------------------------------------------------------- env file --
tmp=$(mktemp "$ENV_FILE.XXXXXX")
cat >"$tmp" <<EOF
SAIO_S3_ENDPOINT=http://$H:$SAIO_PORT
SAIO_S3_ACCESS_KEY=$SAIO_USER
SAIO_S3_SECRET_KEY=$SAIO_KEY
SAIO_S3_REGION=us-east-1
SAIO_SWIFT_AUTH=http://$H:$SAIO_PORT/auth/v1.0
SAIO_SWIFT_USER=$SAIO_USER
SAIO_SWIFT_KEY=$SAIO_KEY
SAIO_DIR=$SAIO_USED
RGW_S3_ENDPOINT=http://$H:$RGW_PORT
RGW_S3_ACCESS_KEY=$S3_ACCESS_KEY
RGW_S3_SECRET_KEY=$S3_SECRET_KEY
RGW_S3_REGION=us-east-1
RGW_SWIFT_AUTH=http://$H:$RGW_PORT/auth/1.0
RGW_SWIFT_USER=$RGW_USER
RGW_SWIFT_KEY=$SWIFT_KEY
RGW_CEPH_DIR=$CEPH_USED
EOF
# Keystone's names, not OS_*: sourcing this file must not turn the TempAuth tests into Keystone ones
if [ "$SAIO_KEYSTONE" = 1 ]; then
  cat >>"$tmp" <<EOF
KEYSTONE_AUTH_URL=$KS_URL
KEYSTONE_USERNAME=$KS_USER
KEYSTONE_PASSWORD=$KS_PASSWORD
KEYSTONE_PROJECT_NAME=$KS_PROJECT
KEYSTONE_USER_DOMAIN_NAME=$KS_DOMAIN
KEYSTONE_PROJECT_DOMAIN_NAME=$KS_DOMAIN
KEYSTONE_REGION_NAME=RegionOne
KEYSTONE_SWIFT_URL=http://$H:$SAIO_PORT
KEYSTONE_TOKEN_CACHE_TIME=$SAIO_KEYSTONE_TOKEN_CACHE_TIME
EOF
fi
# Virtual-hosted addressing only where the cluster was started with the DNS name.
if [ -n "$CEPH_USED" ] && grep -q "rgw dns name = localhost" "$CEPH_USED/ceph.conf" 2>/dev/null; then
  echo "RGW_S3_VIRTUAL_ENDPOINT=http://localhost:$RGW_PORT" >> "$tmp"
fi
chmod 644 "$tmp"
mv -f "$tmp" "$ENV_FILE"
log "wrote $ENV_FILE - ready (SAIO http://$H:$SAIO_PORT, radosgw http://$H:$RGW_PORT)"
