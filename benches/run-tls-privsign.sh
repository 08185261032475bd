#!/usr/bin/env bash
# TLS and privsign load figures of BENCHMARKS.md:
#   cargo build --release && benches/run-tls-privsign.sh [SECONDS]
# One store (one key of each type of run.sh, the fixture signd key and
# encryption key for privsign, read from obs-sign-fixtures at run time), a
# plain server on 127.0.0.1:15167 and a `proto: ssl` server on :15168
# (certificates from benches/tls-certs.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CARGO_TARGET_DIR:-target}/release
SECS=${1:-8}
PLAIN=127.0.0.1:${PORT:-15167}
TLS=127.0.0.1:${TLS_PORT:-15168}
T=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"' EXIT

echo "# $(date -u) $(nproc) cores, $(openssl version)"
for t in rsa2048 rsa4096 ed25519 nistp256; do
  "$BIN/signatrust-bench" populate --data-dir "$T/store" --keys 1 --type $t --prefix "$t-" >/dev/null
done
"$BIN/signatrust-bench" privsign-setup --data-dir "$T/store" --fixtures obs-sign-fixtures
benches/tls-certs.sh "$T/pki" >/dev/null

cat > "$T/plain.toml" <<TOML
data_dir = "$T/store"
[server]
listen = ["$PLAIN"]
allow = ["127.0.0.1"]
allow_unprivileged_ports = true
TOML
cat > "$T/sign.conf" <<CONF
allow: 127.0.0.1
allow-unprivileged-ports: true
proto: ssl
ssl_certfile: $T/pki/server.pem
ssl_keyfile: $T/pki/server.key
ssl_verifyfile: $T/pki/ca.pem
allow_subject: CN=obs-backend,O=OBS
CONF

RUST_LOG=warn "$BIN/signatrustd" --config "$T/plain.toml" 2>"$T/plain.log" &
PLAIN_PID=$!; PIDS+=($PLAIN_PID)
RUST_LOG=warn "$BIN/signatrustd" --data-dir "$T/store" --sign-conf "$T/sign.conf" \
  --listen "$TLS" 2>"$T/tls.log" &
TLS_PID=$!; PIDS+=($TLS_PID)
"$BIN/signatrust-bench" wait --addr "$PLAIN" >/dev/null
"$BIN/signatrust-bench" wait --addr "$TLS" >/dev/null

load() { # pid addr args...
  local pid=$1 addr=$2; shift 2
  echo; echo "### $* (load avg: $(cut -d' ' -f1-3 /proc/loadavg))"
  "$BIN/signatrust-bench" load --addr "$addr" --duration "$SECS" --server-pid "$pid" "$@" || true
}
tls=(--tls --tls-ca "$T/pki/ca.pem" --tls-cert "$T/pki/client.pem" --tls-key "$T/pki/client.key")
P1=obs-sign-fixtures/generated/P1-rsa2048-gpgenc.hex
P2=obs-sign-fixtures/generated/P2-rsa2048-symenc.hex
U=defaultkey@localobs

# The first privsign of each blob decrypts it (cold); warm both caches up
# (and report the cold run), so the measured runs are cache hits.
for b in $P1 $P2; do
  echo "## cold: $("$BIN/signatrust-bench" load --addr $PLAIN --user $U --command privsign --blob $b -c 1 -d 0.5 | grep -E 'latency')"
  "$BIN/signatrust-bench" load --addr $TLS "${tls[@]}" --user $U --command privsign --blob $b -c 1 -d 0.5 >/dev/null
done

# privsign with a cached blob vs sign with a stored key, interleaved.
load $PLAIN_PID $PLAIN --user rsa2048-000000 --command sign -c 50 --openssl-speed rsa2048 --openssl-multi 2
load $PLAIN_PID $PLAIN --user $U --command privsign --blob $P1 -c 50
load $PLAIN_PID $PLAIN --user $U --command privsign --blob $P2 -c 50
load $PLAIN_PID $PLAIN --user rsa2048-000000 --command sign -c 50
load $PLAIN_PID $PLAIN --user $U --command privsign --blob $P1 -c 50
load $PLAIN_PID $PLAIN --user $U --command privsign --blob $P2 -c 50

# TLS, a full handshake per request: the plain-TCP matrix of run.sh again.
for t in rsa2048 ed25519; do
  for c in 1 50 200; do
    load $TLS_PID $TLS "${tls[@]}" --user "$t-000000" --command sign -c $c
  done
done
load $TLS_PID $TLS "${tls[@]}" --user rsa4096-000000 --command sign -c 50
load $TLS_PID $TLS "${tls[@]}" --user nistp256-000000 --command sign -c 50
load $TLS_PID $TLS "${tls[@]}" --user rsa2048-000000 --command sign2 -c 50
load $TLS_PID $TLS "${tls[@]}" --user ed25519-000000 --command pubkey -c 50
load $TLS_PID $TLS "${tls[@]}" --user $U --command privsign --blob $P1 -c 50
load $TLS_PID $TLS "${tls[@]}" --user $U --command privsign --blob $P2 -c 50
# Abbreviated handshakes (the C client does not resume; for comparison).
load $TLS_PID $TLS "${tls[@]}" --tls-resume --user ed25519-000000 --command sign -c 50
echo "## server RSS: plain $(grep VmHWM /proc/$PLAIN_PID/status | tr -s ' '); TLS $(grep VmHWM /proc/$TLS_PID/status | tr -s ' ')"
