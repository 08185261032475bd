#!/usr/bin/env bash
# The cost of the audit trail: the same signatrustd with [audit] on and off,
# on one store, RSA-2048 (or TYPE) at c=50, interleaved, with `openssl
# speed` before and after (same sitting):
#   cargo build --release && benches/audit-ab.sh [SECONDS] [ROUNDS] [TYPE]
# Compare req/s and server CPU/req of "on" against "off": the last lines
# sum the rounds up (mean and median of the per-round differences, and the
# standard error of the mean; the machine's noise shows in the spread).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-6}
ROUNDS=${2:-3}
TYPE=${3:-rsa2048}
BIN=${BIN_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/release}
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
"$BIN/signatrust-bench" populate --data-dir "$T/store" --keys 1 --type "$TYPE" --prefix k- >/dev/null
declare -A PORT PID
for v in off on; do
  port=$([ $v = off ] && echo 15190 || echo 15191)
  PORT[$v]=$port
  enabled=$([ $v = off ] && echo false || echo true)
  printf 'data_dir = "%s"\n[server]\nlisten = ["127.0.0.1:%s"]\nallow = ["127.0.0.1"]\nallow_unprivileged_ports = true\n[audit]\nenabled = %s\n' \
    "$T/store" "$port" "$enabled" > "$T/$v.toml"
  RUST_LOG=warn "$BIN/signatrustd" --config "$T/$v.toml" 2>"$T/$v.log" &
  PID[$v]=$!; PIDS+=($!)
  "$BIN/signatrust-bench" wait --addr "127.0.0.1:$port" >/dev/null
done
speed() {
  "$BIN/signatrust-bench" load --addr "127.0.0.1:${PORT[off]}" --user k-000000 -c 50 -d 1 \
    --openssl-speed "$TYPE" | grep -E "^openssl"
}
echo "# $(date -u) $(nproc) cores; audit off vs on, $TYPE"
speed
for r in $(seq "$ROUNDS"); do
  for v in off on; do
    echo "### audit $v round $r (load avg: $(cut -d' ' -f1-3 /proc/loadavg))"
    "$BIN/signatrust-bench" load --addr "127.0.0.1:${PORT[$v]}" --user k-000000 -c 50 \
      -d "$SECS" --server-pid "${PID[$v]}" | grep -E "req/s|latency|server CPU"
  done
done | tee "$T/rounds"
speed
# Per round: on/off - 1 of req/s and of server CPU per request.
awk '
  /^### audit/ { v = $3; r = $5 }
  / req\/s$/ { q[v, r] = $(NF - 1) }
  /server CPU/ { c[v, r] = $4 + 0 }
  END {
    for (i = 1; ("on", i) in q; i++) {
      dq[i] = (q["on", i] / q["off", i] - 1) * 100
      dc[i] = (c["on", i] / c["off", i] - 1) * 100
      printf "round %d: req/s %+.1f %%, CPU/req %+.1f %%\n", i, dq[i], dc[i]
    }
    n = i - 1
    summary("req/s", dq, n); summary("server CPU/req", dc, n)
  }
  function summary(name, d, n,   i, j, t, m, s, sorted) {
    for (i = 1; i <= n; i++) { m += d[i] / n; sorted[i] = d[i] }
    for (i = 1; i <= n; i++) s += (d[i] - m) ^ 2
    s = n > 1 ? sqrt(s / (n - 1)) : 0
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
      if (sorted[j] < sorted[i]) { t = sorted[i]; sorted[i] = sorted[j]; sorted[j] = t }
    printf "# audit on vs off, %s: mean %+.2f %%, median %+.2f %%, sd %.2f, se %.2f (%d rounds)\n", \
      name, m, (sorted[int((n + 1) / 2)] + sorted[int(n / 2) + 1]) / 2, s, s / sqrt(n), n
  }' "$T/rounds"
echo "# audit rows written: $(sqlite3 "$T/store/signatrust.db" 'SELECT count(*) FROM audit_log' 2>/dev/null || echo '?')"
