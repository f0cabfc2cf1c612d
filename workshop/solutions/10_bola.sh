#!/usr/bin/env bash
# Exercise 10, find it, fix it: bob reads a playlist of alice's by its id (BOLA). Run it twice:
#   1. Ctrl-C `make serve`, start `PLAYLISTS_UNSAFE=bola make serve`, then: bash workshop/solutions/10_bola.sh  -> 200
#   2. Ctrl-C, start plain `make serve`, then again:                         bash workshop/solutions/10_bola.sh  -> 404
set -eu
REST=${REST:-http://${PLAYLISTS_HOST:-127.0.0.1}:${PLAYLISTS_REST_PORT:-8080}}
CREDENTIALS=${PLAYLISTS_HOME:-.demo}/credentials.json
key() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["users"][sys.argv[2]]["api_key"])' "$CREDENTIALS" "$1"; }

ID=$(curl -s "$REST/v1/playlists" -H "X-API-Key: $(key alice)" -H 'Content-Type: application/json' \
  -d '{"name": "Alice, private"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
echo "alice created $ID"
CODE=$(curl -s -o /dev/null -w '%{http_code}' "$REST/v1/playlists/$ID" -H "X-API-Key: $(key bob)")
case $CODE in
  200) echo "bob asked for it: 200. The ownership check is off: bob read alice's playlist." ;;
  404) echo "bob asked for it: 404. The ownership check is on: not yours is answered as not there." ;;
  *)   echo "bob asked for it: $CODE" ;;
esac
