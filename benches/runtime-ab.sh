#!/usr/bin/env bash
# Interleaved A/B of runtime set-ups for one key type at c=50:
#   cargo build --release && benches/runtime-ab.sh [rsa2048|ed25519] [SECONDS] [ROUNDS]
# Servers on one store, side by side, runs interleaved: the default
# (`[exec]` io_threads = cores/2, SCHED_BATCH, workers = cores),
# `io_scheduling = "normal"`, and `io_threads = 2`. Override the modes with
# MODES="default normal". `openssl speed` runs before and after. Compare
# server CPU/req.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CARGO_TARGET_DIR:-target}/release
TYPE=${1:-rsa2048}
SECS=${2:-5}
ROUNDS=${3:-3}
T=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"' EXIT
"$BIN/signatrust-bench" populate --data-dir "$T/store" --keys 1 --type "$TYPE" --prefix "$TYPE-" >/dev/null
read -r -a MODES <<< "${MODES:-default normal io2}"
declare -A PORT PID
i=0
for mode in "${MODES[@]}"; do
  port=$((15170 + i)); i=$((i + 1)); PORT[$mode]=$port
  printf 'data_dir = "%s"\n[server]\nlisten = ["127.0.0.1:%s"]\nallow = ["127.0.0.1"]\nallow_unprivileged_ports = true\n' \
    "$T/store" "$port" > "$T/$mode.toml"
  case $mode in
    default) ;;
    normal) printf '[exec]\nio_scheduling = "normal"\n' >> "$T/$mode.toml" ;;
    io2) printf '[exec]\nio_threads = 2\n' >> "$T/$mode.toml" ;;
    workers1) printf '[exec]\nworkers = 1\n' >> "$T/$mode.toml" ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
  esac
  RUST_LOG=warn "$BIN/signatrustd" --config "$T/$mode.toml" 2>"$T/$mode.log" &
  PID[$mode]=$!; PIDS+=($!)
  "$BIN/signatrust-bench" wait --addr "127.0.0.1:$port" >/dev/null
done
speed() {
  "$BIN/signatrust-bench" load --addr "127.0.0.1:${PORT[${MODES[0]}]}" --user "$TYPE-000000" -c 50 -d 1 \
    --openssl-speed "$TYPE" | grep -E "^openssl"
}
echo "# $(date -u) $(nproc) cores, $(openssl version)"
speed
for round in $(seq "$ROUNDS"); do
  for mode in "${MODES[@]}"; do
    echo "### $mode round $round (load avg: $(cut -d' ' -f1-3 /proc/loadavg))"
    "$BIN/signatrust-bench" load --addr "127.0.0.1:${PORT[$mode]}" --user "$TYPE-000000" -c 50 \
      -d "$SECS" --server-pid "${PID[$mode]}" | grep -E "req/s|latency|server CPU"
  done
done
speed
