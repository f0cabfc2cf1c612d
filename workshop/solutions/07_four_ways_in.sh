#!/usr/bin/env bash
# Exercise 7, four ways in: the same call with an API key, a password, an OAuth token and a certificate.
# From the repository's root, with `make serve` running:  bash workshop/solutions/07_four_ways_in.sh
set -eu
REST=${REST:-http://${PLAYLISTS_HOST:-127.0.0.1}:${PLAYLISTS_REST_PORT:-8080}}
REST_TLS=${REST_TLS:-https://${PLAYLISTS_HOST:-127.0.0.1}:${PLAYLISTS_REST_TLS_PORT:-8443}}
HOME_DIR=${PLAYLISTS_HOME:-.demo}
secret() {  # secret USER FIELD: one value from credentials.json
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["users"][sys.argv[2]][sys.argv[3]])' \
    "$HOME_DIR/credentials.json" "$1" "$2"
}

curl -s "$REST/v1/me" -H "X-API-Key: $(secret alice api_key)"; echo
curl -s "$REST/v1/me" -u "alice:$(secret alice password)"; echo
# OAuth 2.0 client credentials: the client's id and secret buy a short-lived token.
TOKEN=$(curl -s "$REST/oauth/token" -u "$(secret alice client_id):$(secret alice client_secret)" \
  -d grant_type=client_credentials | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
curl -s "$REST/v1/me" -H "Authorization: Bearer $TOKEN"; echo
# Mutual TLS: --cacert proves the server to us, --cert and --key prove us to the server.
curl -s "$REST_TLS/v1/me" --cacert "$HOME_DIR/tls/ca.pem" --cert "$HOME_DIR/tls/alice.pem" --key "$HOME_DIR/tls/alice.key"
echo
