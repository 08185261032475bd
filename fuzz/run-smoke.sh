#!/bin/sh
# Builds every fuzz target and runs each for a bounded time, seeded from the
# fixtures. For CI: fuzz/run-smoke.sh [SECONDS]   (default 20 per target)
# A crash leaves its input under fuzz/artifacts/<target>/ and fails the run;
# turn it into a regression test before fixing it.
# cargo-fuzz needs nightly features; the machine has one stable toolchain,
# so the build runs with RUSTC_BOOTSTRAP=1.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-20}
fixtures=${SIGNATRUST_FIXTURES:-$here/../obs-sign-fixtures}
cd "$here"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet
sh ./seed.sh
# sign.conf corpus: the fixture configurations.
mkdir -p corpus/sign_conf corpus/blob
for f in "$fixtures"/signd-state/*.conf; do
    cp "$f" "corpus/sign_conf/$(basename "$f")"
done
# blob corpus: the Perl-made project-key blobs and the TOTP blob (hex → bytes).
for f in "$fixtures"/generated/*.hex "$fixtures"/inputs/totp.P; do
    [ -f "$f" ] || continue
    python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(open(sys.argv[1]).read().strip()))' \
        "$f" > "corpus/blob/$(basename "$f").bin" 2>/dev/null || true
done
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list)
cargo fuzz build
for t in $targets; do
    echo "fuzz: $t for ${secs}s"
    mkdir -p "corpus/$t"
    log="$here/artifacts/$t.log"
    mkdir -p "$here/artifacts"
    if ! cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 \
        -print_final_stats=0 >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz: $t FAILED (input saved under fuzz/artifacts/$t/)" >&2
        exit 1
    fi
    tail -n 2 "$log"
done
echo "fuzz: all targets ran ${secs}s without a crash"
