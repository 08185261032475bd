#!/usr/bin/env bash
# One-key store vs 100,000-key store, measured interleaved so that the
# machine's load affects both alike:
#   cargo build --release && benches/compare-100k.sh [SECONDS]
# Store A holds rsa000000 (RSA-2048) and ed000000 (Ed25519); store B holds
# the same two keys plus k000000..k099999 (RSA-2048). Both servers run at
# once (an idle server costs nothing); runs alternate A, B.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CARGO_TARGET_DIR:-target}/release
SECS=${1:-6}
T=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$T"' EXIT

for s in A B; do
  "$BIN/signatrust-bench" populate --data-dir "$T/$s" --keys 1 --type rsa2048 --prefix rsa >/dev/null
  "$BIN/signatrust-bench" populate --data-dir "$T/$s" --keys 1 --type ed25519 --prefix ed >/dev/null
done
echo "## populate B: $("$BIN/signatrust-bench" populate --data-dir "$T/B" --keys 100000 --type rsa2048)"
declare -A PORT=([A]=15171 [B]=15172) PID
for s in A B; do
  cat > "$T/$s.toml" <<TOML
data_dir = "$T/$s"
[server]
listen = ["127.0.0.1:${PORT[$s]}"]
allow = ["127.0.0.1"]
allow_unprivileged_ports = true
TOML
  t0=$(date +%s.%N)
  RUST_LOG=warn "$BIN/signatrustd" --config "$T/$s.toml" 2>"$T/$s.log" &
  PID[$s]=$!; PIDS+=($!)
  "$BIN/signatrust-bench" wait --addr "127.0.0.1:${PORT[$s]}" >/dev/null
  echo "## store $s: accepting $(echo "$(date +%s.%N) - $t0" | bc) s after start, idle RSS $(awk '/VmRSS/{print $2/1024 " MiB"}' /proc/${PID[$s]}/status)"
done

for user in rsa000000 ed000000; do
  for c in 1 50 200; do
    reps=2; [ $c = 200 ] && reps=1
    for r in $(seq $reps); do
      for s in A B; do
        echo "### store $s $user c=$c (load avg: $(cut -d' ' -f1-3 /proc/loadavg))"
        "$BIN/signatrust-bench" load --addr "127.0.0.1:${PORT[$s]}" --user $user -c $c \
          --duration "$SECS" --server-pid "${PID[$s]}" | grep -E 'req/s|latency|server CPU|error'
      done
    done
  done
done
for s in A B; do echo "## store $s after load: $(grep -E 'VmRSS|VmHWM' /proc/${PID[$s]}/status | tr -s ' \n' ' ')"; done
