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
# PROXY protocol headers (server::proxy_header), v1 and v2, each followed
# by a request's first bytes.
proxy="$here/corpus/proxy_header"
mkdir -p "$proxy"
printf 'PROXY TCP4 192.0.2.7 198.51.100.1 1011 5167\r\n\0\10' > "$proxy/v1-tcp4"
printf 'PROXY TCP6 2001:db8::7 2001:db8::1 600 5167\r\n' > "$proxy/v1-tcp6"
printf 'PROXY UNKNOWN\r\n' > "$proxy/v1-unknown"
printf '\r\n\r\n\0\r\nQUIT\n\041\021\0\014\300\0\2\7\306\63\144\1\3\363\24\57\0\10' > "$proxy/v2-tcp4"
printf '\r\n\r\n\0\r\nQUIT\n\040\0\0\0' > "$proxy/v2-local"
echo "seeded $n requests into $req and $(ls "$hash" | wc -l) hash arguments into $hash"
