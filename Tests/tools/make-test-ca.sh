#!/usr/bin/env bash
# make-test-ca.sh OUTDIR - throw-away certificates for TLS tests (faultproxy.py --tls-cert/--tls-key).
#
# Creates with the openssl command-line tool:
#   OUTDIR/ca.pem, OUTDIR/ca.key          a test certificate authority (RSA 2048, 10 years)
#   OUTDIR/server.pem, OUTDIR/server.key  a server certificate signed by it for 127.0.0.1 and
#                                         localhost (subjectAltName IP:127.0.0.1, DNS:localhost;
#                                         serverAuth, 365 days)
#   OUTDIR/other-ca.pem                   a second, unrelated self-signed CA (for negative tests:
#                                         a client trusting only it must reject the server)
# Idempotent: when the files are already there, match each other and the server certificate is
# valid for at least another day, nothing is changed. Otherwise all of them are made anew (in a
# temporary folder inside OUTDIR, then moved into place). Keys are mode 600, certificates 644.
# Quiet: prints nothing on success; on failure prints a message (and openssl's output) to stderr
# and exits non-zero (1; 2 for a usage error). Needs openssl (Debian package `openssl`).
set -u

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "usage: make-test-ca.sh OUTDIR" >&2
    exit 2
fi
OUT=$1

if ! command -v openssl >/dev/null 2>&1; then
    echo "make-test-ca.sh: the openssl command-line tool is missing (Debian: apt-get install openssl)" >&2
    exit 1
fi

mkdir -p "$OUT" || { echo "make-test-ca.sh: cannot create $OUT" >&2; exit 1; }

# ---- already done? ------------------------------------------------------------------------
pubkey_of_cert() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null; }
pubkey_of_key() { openssl pkey -in "$1" -pubout 2>/dev/null; }

up_to_date() {
    local f
    for f in ca.pem ca.key server.pem server.key other-ca.pem; do
        [ -s "$OUT/$f" ] || return 1
    done
    openssl verify -CAfile "$OUT/ca.pem" "$OUT/server.pem" >/dev/null 2>&1 || return 1
    openssl x509 -in "$OUT/server.pem" -noout -checkend 86400 >/dev/null 2>&1 || return 1
    openssl x509 -in "$OUT/other-ca.pem" -noout -checkend 86400 >/dev/null 2>&1 || return 1
    [ "$(pubkey_of_cert "$OUT/server.pem")" = "$(pubkey_of_key "$OUT/server.key")" ] || return 1
    [ "$(pubkey_of_cert "$OUT/ca.pem")" = "$(pubkey_of_key "$OUT/ca.key")" ] || return 1
    # the other CA must not be able to vouch for the server
    ! openssl verify -CAfile "$OUT/other-ca.pem" "$OUT/server.pem" >/dev/null 2>&1
}

if up_to_date; then
    exit 0
fi

# ---- make them ----------------------------------------------------------------------------
umask 077
TMP=$(mktemp -d "$OUT/.make-test-ca.XXXXXX") || { echo "make-test-ca.sh: mktemp failed in $OUT" >&2; exit 1; }
trap 'rm -rf "$TMP"' EXIT
LOG=$TMP/openssl.log

run() {
    if ! "$@" >>"$LOG" 2>&1; then
        echo "make-test-ca.sh: failed: $*" >&2
        cat "$LOG" >&2
        exit 1
    fi
}

# a self-contained config: independent of the system's openssl.cnf
cat >"$TMP/openssl.cnf" <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
CNF=$TMP/openssl.cnf
serial() { echo "0x$(openssl rand -hex 16)"; }

# test CA
run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/ca.key"
run openssl req -config "$CNF" -new -x509 -sha256 -days 3650 -key "$TMP/ca.key" \
    -subj "/O=faultproxy tests/CN=faultproxy throw-away test CA" \
    -extensions v3_ca -set_serial "$(serial)" -out "$TMP/ca.pem"

# server certificate for 127.0.0.1 / localhost, signed by the test CA
run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/server.key"
run openssl req -config "$CNF" -new -sha256 -key "$TMP/server.key" \
    -subj "/O=faultproxy tests/CN=127.0.0.1" -out "$TMP/server.csr"
run openssl x509 -req -sha256 -days 365 -in "$TMP/server.csr" \
    -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -set_serial "$(serial)" \
    -extfile "$CNF" -extensions v3_server -out "$TMP/server.pem"

# an unrelated CA (its key is thrown away)
run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/other-ca.key"
run openssl req -config "$CNF" -new -x509 -sha256 -days 3650 -key "$TMP/other-ca.key" \
    -subj "/O=faultproxy tests/CN=faultproxy unrelated test CA" \
    -extensions v3_ca -set_serial "$(serial)" -out "$TMP/other-ca.pem"

run openssl verify -CAfile "$TMP/ca.pem" "$TMP/server.pem"

chmod 600 "$TMP/ca.key" "$TMP/server.key" || exit 1
chmod 644 "$TMP/ca.pem" "$TMP/server.pem" "$TMP/other-ca.pem" || exit 1
for f in ca.key server.key ca.pem server.pem other-ca.pem; do
    mv -f "$TMP/$f" "$OUT/$f" || { echo "make-test-ca.sh: cannot move $f into $OUT" >&2; exit 1; }
done
exit 0
