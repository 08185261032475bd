#!/usr/bin/env bash
# The load benchmarks of BENCHMARKS.md, end to end:
#   cargo build --release && benches/run.sh [SECONDS]
# Starts signatrustd (release) on 127.0.0.1:15167 with fresh stores in a
# temp dir, runs signatrust-bench against it and prints everything.
# Needs nothing but the release binaries and `openssl`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CARGO_TARGET_DIR:-target}/release
SECS=${1:-8}
PORT=${PORT:-15167}
ADDR=127.0.0.1:$PORT
T=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$T"' EXIT
SERVER=

conf() { # data dir, log level
  cat > "$T/$1.toml" <<TOML
data_dir = "$T/$1"
[server]
listen = ["$ADDR"]
allow = ["127.0.0.1"]
allow_unprivileged_ports = true
[log]
level = "${2:-warn}"
TOML
}

start() { # data dir, log level
  conf "$1" "${2:-warn}"
  local t0; t0=$(date +%s.%N)
  RUST_LOG=${2:-warn} "$BIN/signatrustd" --config "$T/$1.toml" 2>"$T/$1.log" &
  SERVER=$!
  "$BIN/signatrust-bench" wait --addr "$ADDR" >/dev/null
  echo "## signatrustd ($1, log $2) accepting $(echo "$(date +%s.%N) - $t0" | bc) s after start; idle RSS $(grep VmRSS /proc/$SERVER/status | awk '{print $2/1024 " MiB"}')"
}

stop() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=; }

load() { # args...
  echo; echo "### $* (load avg: $(cut -d' ' -f1-3 /proc/loadavg))"
  "$BIN/signatrust-bench" load --addr "$ADDR" --duration "$SECS" --server-pid "$SERVER" "$@" || true
}

echo "# $(date -u) $(nproc) cores, $(openssl version)"

# One key of each type.
for t in rsa2048 rsa4096 ed25519 nistp256; do
  "$BIN/signatrust-bench" populate --data-dir "$T/one" --keys 1 --type $t --prefix "$t-" >/dev/null
done
start one warn
for t in rsa2048 rsa4096 ed25519 nistp256; do
  case $t in nistp256) alg=ecdsap256;; *) alg=$t;; esac
  for c in 1 50 200; do
    if [ $c = 50 ]; then speed=(--openssl-speed "$alg" --openssl-multi 2); else speed=(); fi
    load --user "$t-000000" --command sign -c $c "${speed[@]}"
  done
done
for t in rsa2048 ed25519; do
  load --user "$t-000000" --command sign2 -c 50
done
load --user ed25519-000000 --command pubkey -c 50
load --user ed25519-000000 --command ping -c 50
stop

# The same server logging every request at info (signd-like logging).
start one info
load --user ed25519-000000 --command sign -c 50
load --user rsa2048-000000 --command sign -c 50
stop

# 100,000 keys.
for t in rsa2048 ed25519; do
  echo; echo "## populate 100000 $t keys"
  "$BIN/signatrust-bench" populate --data-dir "$T/many-$t" --keys 100000 --type $t
  ls -l "$T/many-$t"/signatrust.db
  start "many-$t" warn
  load --user k050000 --command sign -c 1
  load --user k050000 --command sign -c 50
  load --user k --spread 100000 --command sign -c 50
  echo "## after load: $(grep -E 'VmRSS|VmHWM' /proc/$SERVER/status | tr -s ' \n' ' ')"
  stop
done
