#!/usr/bin/env bash
# Exercise 1, your first call: GET /v1/moods over REST, with curl and alice's API key.
# From the repository's root, with `make serve` running:  bash workshop/solutions/01_first_call.sh
set -eu
REST=${REST:-http://${PLAYLISTS_HOST:-127.0.0.1}:${PLAYLISTS_REST_PORT:-8080}}
CREDENTIALS=${PLAYLISTS_HOME:-.demo}/credentials.json
API_KEY=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["users"]["alice"]["api_key"])' "$CREDENTIALS")

# -i prints the status line and the headers: 200 OK, Content-Type: application/json, then the body.
curl -si "$REST/v1/moods" -H "X-API-Key: $API_KEY"
