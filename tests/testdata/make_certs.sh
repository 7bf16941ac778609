#!/bin/sh
# Regenerates the PEM files the kubeconfig tests use: a CA, and a client certificate and key it
# signed. They exist only so fixtures hold real PEM; nothing trusts them. The tests compare file
# contents with the fixtures' base64 -data fields, so the fixtures that embed them are rendered
# from *.in templates at the end.
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/kubeconfig/certs"
mkdir -p "$dir"
cd "$dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 \
  -subj "/CN=test-ca" -keyout "$tmp/ca.key" -out ca.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/O=system:masters/CN=test-admin" -keyout client.key -out "$tmp/client.csr" 2>/dev/null
openssl x509 -req -in "$tmp/client.csr" -CA ca.crt -CAkey "$tmp/ca.key" -CAcreateserial \
  -CAserial "$tmp/ca.srl" -days 36500 -out client.crt 2>/dev/null

# Base64 copies, for fixtures that embed the PEM in -data fields (one line, as kind writes them).
for f in ca.crt client.crt client.key; do
  base64 < "$f" | tr -d '\n' > "$f.b64"
done

# Fixtures that embed the certificates are rendered from their *.in templates. Fixtures are named
# *.kubeconfig, not *.yaml/*.json, so that `deno fmt` leaves their real-world layout alone.
cd ..
for tmpl in *.kubeconfig.in; do
  sed -e "s|@CA_DATA@|$(cat certs/ca.crt.b64)|g" \
    -e "s|@CLIENT_CERT_DATA@|$(cat certs/client.crt.b64)|g" \
    -e "s|@CLIENT_KEY_DATA@|$(cat certs/client.key.b64)|g" \
    "$tmpl" > "${tmpl%.in}"
done
echo "wrote $dir and the fixtures rendered from templates"
