#!/usr/bin/env bash
# Interleaved A/B of this tree's signatrustd against the one of an earlier
# revision, on one store, RSA-2048 (or TYPE) at c=50, with `openssl speed`
# before and after (same sitting):
#   cargo build --release && benches/ab-revision.sh REV [SECONDS] [ROUNDS] [TYPE]
# REV is built in a throw-away git worktree into target/ab-REV (the first
# build copies this tree's release dependencies). Compare server CPU/req.
set -euo pipefail
cd "$(dirname "$0")/.."
REV=${1:?usage: benches/ab-revision.sh REV [SECONDS] [ROUNDS] [TYPE]}
SECS=${2:-6}
ROUNDS=${3:-3}
TYPE=${4:-rsa2048}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
NEW=$TARGET/release
OLDT=$TARGET/ab-$(git rev-parse --short "$REV")
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  git worktree remove --force "$T/src" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
git worktree add --detach -q "$T/src" "$REV"
[ -d "$OLDT/release" ] || { mkdir -p "$OLDT"; cp -a "$NEW" "$OLDT/release"; }
(cd "$T/src" && CARGO_TARGET_DIR=$OLDT cargo build --release --quiet --bin signatrustd)
OLD=$OLDT/release
"$NEW/signatrust-bench" populate --data-dir "$T/store" --keys 1 --type "$TYPE" --prefix k- >/dev/null
declare -A PORT PID
for v in old new; do
  port=$([ $v = old ] && echo 15180 || echo 15181)
  PORT[$v]=$port
  printf 'data_dir = "%s"\n[server]\nlisten = ["127.0.0.1:%s"]\nallow = ["127.0.0.1"]\nallow_unprivileged_ports = true\n' \
    "$T/store" "$port" > "$T/$v.toml"
  bin=$([ $v = old ] && echo "$OLD" || echo "$NEW")
  RUST_LOG=warn "$bin/signatrustd" --config "$T/$v.toml" 2>"$T/$v.log" &
  PID[$v]=$!; PIDS+=($!)
  "$NEW/signatrust-bench" wait --addr "127.0.0.1:$port" >/dev/null
done
speed() {
  "$NEW/signatrust-bench" load --addr "127.0.0.1:${PORT[new]}" --user k-000000 -c 50 -d 1 \
    --openssl-speed "$TYPE" | grep -E "^openssl"
}
echo "# $(date -u) $(nproc) cores; old = $(git rev-parse --short "$REV"), new = working tree"
speed
for r in $(seq "$ROUNDS"); do
  for v in old new; do
    echo "### $v round $r (load avg: $(cut -d' ' -f1-3 /proc/loadavg))"
    "$NEW/signatrust-bench" load --addr "127.0.0.1:${PORT[$v]}" --user k-000000 -c 50 \
      -d "$SECS" --server-pid "${PID[$v]}" | grep -E "req/s|latency|server CPU"
  done
done
speed
