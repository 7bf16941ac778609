#!/bin/sh
# Regenerates tests/testdata/tls/: a test CA, a server certificate for 127.0.0.1/localhost (and the
# name "apiserver.test", for tls-server-name), a v3 client certificate, and an X.509 v1 client
# certificate (which Deno's TLS refuses: the tests check that we say so in plain words). Nothing
# outside the tests trusts these.
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/tls"
mkdir -p "$dir" && cd "$dir"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -days 36500 -subj "/CN=orbiter-test-ca" -keyout ca.key -out ca.crt \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:apiserver.test\n' > "$tmp/server.ext"
openssl req $ec -subj "/CN=apiserver.test" -keyout server.key -out "$tmp/server.csr" 2>/dev/null
openssl x509 -req -in "$tmp/server.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -CAserial "$tmp/ca.srl" \
  -days 36500 -extfile "$tmp/server.ext" -out server.crt 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > "$tmp/client.ext"
openssl req $ec -subj "/O=system:masters/CN=test-user" -keyout client.key -out "$tmp/client.csr" 2>/dev/null
openssl x509 -req -in "$tmp/client.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -CAserial "$tmp/ca.srl" \
  -days 36500 -extfile "$tmp/client.ext" -out client.crt 2>/dev/null
# No -extfile: OpenSSL writes a version 1 certificate.
openssl req $ec -subj "/CN=v1-user" -keyout client-v1.key -out "$tmp/v1.csr" 2>/dev/null
openssl x509 -req -in "$tmp/v1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -CAserial "$tmp/ca.srl" \
  -days 36500 -out client-v1.crt 2>/dev/null
echo "wrote $dir"
