#!/bin/sh
# One-shot init of docker/compose.yaml (alpine). Idempotent: existing material is kept, so the
# CA and certificates survive `docker compose down` / `up` (they live in named volumes).
#
#   /state                  init's own volume: the compose CA (its key never leaves this volume)
#   /out/ca/ca.pem          the CA certificate, trusted by the BFF (NODE_EXTRA_CA_CERTS)
#   /out/trino/             trino.pem (key + certificate, SAN trino) and password.db (svc-bff, bcrypt)
#   /out/trino-gateway/     trino-gateway.pem (key + certificate, SAN trino-gateway), and form-private.pem /
#                           form-public.pem: the RSA key pair of the gateway's `authentication.form`, which
#                           the gateway needs before it accepts HTTP Basic (break-glass) at all
#   /out/gateway-rules/     routing-rules.yaml, writable (POST /webapp/updateRoutingRules edits it)
#
# Trino and the Trino Gateway authenticate only over HTTPS, hence the certificates. Both images
# run as uid 1000, which must read their own key.
set -eu

# In the compose service (alpine) the tools are installed here; test/deploy runs this script on
# Debian with openssl and htpasswd (apache2-utils) already present, and other directories.
if command -v apk >/dev/null 2>&1; then apk add --no-cache openssl apache2-utils >/dev/null; fi

STATE=${INIT_STATE_DIR:-/state}
OUT=${INIT_OUT_DIR:-/out}
SEED=${INIT_SEED_DIR:-/seed}
umask 077

if [ ! -s "$STATE/ca.key" ] || [ ! -s "$STATE/ca.pem" ]; then
  openssl req -x509 -newkey rsa:3072 -nodes -days 825 -sha256 \
    -subj "/CN=platform compose CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$STATE/ca.key" -out "$STATE/ca.pem"
fi

# issue NAME SAN-LIST: a server certificate signed by the compose CA, as one PEM (key + chain).
issue() {
  name=$1
  sans=$2
  dir=$OUT/$name
  if [ -s "$dir/$name.pem" ]; then return 0; fi
  work=$(mktemp -d)
  openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$name" -keyout "$work/key.pem" -out "$work/req.csr"
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' "$sans" > "$work/ext.cnf"
  openssl x509 -req -in "$work/req.csr" -CA "$STATE/ca.pem" -CAkey "$STATE/ca.key" -CAcreateserial \
    -days 825 -sha256 -extfile "$work/ext.cnf" -out "$work/cert.pem"
  cat "$work/key.pem" "$work/cert.pem" "$STATE/ca.pem" > "$dir/$name.pem"
  rm -rf "$work"
  chown 1000:1000 "$dir/$name.pem"
  chmod 0400 "$dir/$name.pem"
}

issue trino "DNS:trino,DNS:localhost"
issue trino-gateway "DNS:trino-gateway,DNS:localhost"

# The gateway's self-signed key pair (PKCS#8 private key, X.509 public key, as its LbKeyProvider reads them).
if [ ! -s "$OUT/trino-gateway/form-private.pem" ] || [ ! -s "$OUT/trino-gateway/form-public.pem" ]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$OUT/trino-gateway/form-private.pem" 2>/dev/null
  openssl pkey -in "$OUT/trino-gateway/form-private.pem" -pubout -out "$OUT/trino-gateway/form-public.pem"
  chown 1000:1000 "$OUT/trino-gateway/form-private.pem" "$OUT/trino-gateway/form-public.pem"
  chmod 0400 "$OUT/trino-gateway/form-private.pem"
  chmod 0444 "$OUT/trino-gateway/form-public.pem"
fi

install -m 0444 "$STATE/ca.pem" "$OUT/ca/ca.pem"

# Trino's file password authenticator: the BFF's service account (TRINO_AUTH=basic). Rewritten on
# every start so it follows TRINO_BFF_PASSWORD in docker/.env.
: "${TRINO_BFF_PASSWORD:?TRINO_BFF_PASSWORD is required}"
htpasswd -B -C 10 -b -c "$OUT/trino/password.db" svc-bff "$TRINO_BFF_PASSWORD" 2>/dev/null
chown 1000:1000 "$OUT/trino/password.db"
chmod 0400 "$OUT/trino/password.db"

if [ ! -s "$OUT/gateway-rules/routing-rules.yaml" ]; then
  cp "$SEED/routing-rules.yaml" "$OUT/gateway-rules/routing-rules.yaml"
fi
chown -R 1000:1000 "$OUT/gateway-rules"
chmod 0600 "$OUT/gateway-rules/routing-rules.yaml"

echo "init: TLS material, Trino password file and gateway routing rules are ready"
