#!/usr/bin/env bash
# Key generation under signing load (BENCHMARKS.md, "Key generation under
# signing load", issue 11): sign latency idle and while N RSA-4096 keygens
# run, for one or two signatrustd binaries in the same sitting.
#   cargo build --release && benches/keygen-under-load.sh [SECONDS]
# BIN=DIR                       the release binaries (default: the target dir)
# OLD_BIN=/path/to/old/release  also measures that build's signatrustd (with
#                               this tree's signatrust-bench) first.
# KEYGENS=6 (background keygens), KEYGEN_TYPE=rsa@4096, CONC="1 4",
# KEYGEN_WORKERS=N sets [exec] keygen_workers (default: half the cores).
# Uses the fixture signd key (obs-sign-fixtures, via `privsign-setup`) as
# both the signing key and the certifier of the generated keys.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
SECS=${1:-10}
KEYGENS=${KEYGENS:-6}
KEYGEN_TYPE=${KEYGEN_TYPE:-rsa@4096}
CONC=${CONC:-1 4}
PORT=${PORT:-15168}
ADDR=127.0.0.1:$PORT
USER_=defaultkey@localobs
T=$(mktemp -d)
SERVER=
trap 'if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; fi; rm -rf "$T"' EXIT

cat > "$T/st.toml" <<TOML
data_dir = "$T/data"
[server]
listen = ["$ADDR"]
allow = ["127.0.0.1"]
allow_unprivileged_ports = true
request_deadline_ms = 120000
[log]
level = "warn"
TOML
if [ -n "${KEYGEN_WORKERS:-}" ]; then
  printf '[exec]\nkeygen_workers = %s\n' "$KEYGEN_WORKERS" >> "$T/st.toml"
fi
"$BIN/signatrust-bench" privsign-setup --data-dir "$T/data" --fixtures obs-sign-fixtures >/dev/null

echo "# $(date -u) $(nproc) cores, $(openssl version)"
echo "# openssl speed rsa2048 (the fixture signd key is RSA-2048):"
openssl speed -seconds 3 rsa2048 2>/dev/null | grep -E '^rsa +2048|^ *sign' | tail -2

measure() { # label, daemon dir
  local label=$1 dir=$2
  for c in $CONC; do
    # A fresh server per pair: keygens still queued from a previous run
    # must not load the idle run.
    RUST_LOG=warn "$dir/signatrustd" --config "$T/st.toml" 2>>"$T/$label.log" &
    SERVER=$!
    "$BIN/signatrust-bench" wait --addr "$ADDR" >/dev/null
    sleep 1
    echo; echo "## $label: sign -c $c, idle (load avg $(cut -d' ' -f1-3 /proc/loadavg))"
    "$BIN/signatrust-bench" load --addr "$ADDR" --user "$USER_" --hash sha256 --command sign \
      -c "$c" --duration "$SECS" --timeout 120 || true
    echo; echo "## $label: sign -c $c, during $KEYGENS x keygen $KEYGEN_TYPE (load avg $(cut -d' ' -f1-3 /proc/loadavg))"
    "$BIN/signatrust-bench" load --addr "$ADDR" --user "$USER_" --hash sha256 --command sign \
      -c "$c" --duration "$SECS" --timeout 120 \
      --background-keygens "$KEYGENS" --keygen-type "$KEYGEN_TYPE" --keygen-warmup 2 || true
    # The keygens left in the server would load the next run: stop it hard.
    kill -9 "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
  done
}

if [ -n "${OLD_BIN:-}" ]; then measure old "$OLD_BIN"; fi
measure new "$BIN"
