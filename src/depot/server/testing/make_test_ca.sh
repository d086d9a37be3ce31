#!/usr/bin/env bash
# Makes a throwaway certificate authority and a server certificate it signed, for tests of
# depot serve over HTTPS: DIR/ca.pem (the CA clients are told to trust), DIR/server.pem and
# DIR/server.key (for --tls-cert and --tls-key), valid for 127.0.0.1 and localhost for 2 days.
#   make_test_ca.sh DIR
set -euo pipefail
dir="$1"
mkdir -p "$dir"
cd "$dir"
curve=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${curve[@]}" -keyout ca.key -out ca.pem -days 2 \
  -subj "/CN=depot test CA" 2>/dev/null
openssl req "${curve[@]}" -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl
