#!/usr/bin/env bash
# Exercise 5, stop at each step: one call refused at step 2, one failed at step 3, one through all three.
# From the repository's root, with `make serve` running:  bash workshop/solutions/05_three_steps.sh
set -eu
REST=${REST:-http://${PLAYLISTS_HOST:-127.0.0.1}:${PLAYLISTS_REST_PORT:-8080}}
CREDENTIALS=${PLAYLISTS_HOME:-.demo}/credentials.json
API_KEY=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["users"]["alice"]["api_key"])' "$CREDENTIALS")

# Step 2 (authenticated and validated) refuses a call without a credential: 401.
curl -s -o /dev/null -w 'no credential:              %{http_code}\n' "$REST/v1/me"
# Step 3 (answered) is where the service looks things up, and finds nothing: 404.
curl -s -o /dev/null -w 'a playlist that is not there: %{http_code}\n' "$REST/v1/playlists/pl_nothing_here" -H "X-API-Key: $API_KEY"
# Through all three: 200.
curl -s -o /dev/null -w 'who am I, with a key:       %{http_code}\n' "$REST/v1/me" -H "X-API-Key: $API_KEY"
