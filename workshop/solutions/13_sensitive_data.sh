#!/usr/bin/env bash
# Exercise 13, find it, fix it: a card number in a playlist's name. Run it twice:
#   1. Ctrl-C `make serve`, start `PLAYLISTS_UNSAFE=scan make serve`, then: bash workshop/solutions/13_sensitive_data.sh
#      (201: stored, card number and all)
#   2. Ctrl-C, start plain `make serve`, then again: bash workshop/solutions/13_sensitive_data.sh  (400)
set -eu
REST=${REST:-http://${PLAYLISTS_HOST:-127.0.0.1}:${PLAYLISTS_REST_PORT:-8080}}
CREDENTIALS=${PLAYLISTS_HOME:-.demo}/credentials.json
API_KEY=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["users"]["alice"]["api_key"])' "$CREDENTIALS")

# 4111 1111 1111 1111 is a Visa test number: it passes the Luhn check, as a real card number does.
curl -s -w '\n-> %{http_code}\n' "$REST/v1/playlists" -H "X-API-Key: $API_KEY" -H 'Content-Type: application/json' \
  -d '{"name": "Card 4111 1111 1111 1111"}'
