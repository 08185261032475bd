#!/usr/bin/env bash
# Makes a throw-away PKI for the TLS load benchmarks in DIR:
#   ca.pem/ca.key      a CA
#   server.pem/.key    the server, for 127.0.0.1 (RSA-2048 key, as a
#                      typical signd server certificate)
#   client.pem/.key    a client certificate (CN=obs-backend, O=OBS)
# Usage: benches/tls-certs.sh DIR
set -euo pipefail
D=${1:?usage: tls-certs.sh DIR}
mkdir -p "$D"
cd "$D"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Signatrust Bench CA" \
  -keyout ca.key -out ca.pem 2>/dev/null
leaf() { # name, subject, extensions
  openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
leaf server "/CN=127.0.0.1" "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client "/O=OBS/CN=obs-backend" "extendedKeyUsage=clientAuth"
echo "$D: ca.pem server.pem server.key client.pem client.key"
