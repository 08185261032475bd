#!/bin/sh
# Seeds the fuzz corpora from the recorded signd transcripts.
# Usage: fuzz/seed.sh   (fixtures: $SIGNATRUST_FIXTURES or ./obs-sign-fixtures)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${SIGNATRUST_FIXTURES:-$here/../obs-sign-fixtures}
req="$here/corpus/decode_request"
hash="$here/corpus/hash_arg"
mkdir -p "$req" "$hash"
n=0
for f in "$fixtures"/cases/*/*.request.bin; do
    case_name=$(basename "$(dirname "$f")")
    cp "$f" "$req/$case_name-$(basename "$f")"
    # Hash arguments as they appear inside the requests.
    grep -aoE '[0-9a-fA-F]+@[0-9a-fA-F]{10}' "$f" 2>/dev/null | while read -r arg; do
        printf '%s' "$arg" > "$hash/$(printf '%s' "$arg" | cksum | cut -d' ' -f1)"
    done
    n=$((n + 1))
done
printf 'bad' > "$hash/bad"
echo "seeded $n requests into $req and $(ls "$hash" | wc -l) hash arguments into $hash"
