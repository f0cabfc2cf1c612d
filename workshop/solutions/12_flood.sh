#!/usr/bin/env bash
# Exercise 12, find it, fix it: flood the REST server with more calls than alice's budget. Run it twice:
#   1. Ctrl-C `make serve`, start `PLAYLISTS_UNSAFE=ratelimit make serve`, then: bash workshop/solutions/12_flood.sh
#      (every call answered 200)
#   2. Ctrl-C, start plain `make serve`, then again: bash workshop/solutions/12_flood.sh  (200s, then 429s)
# Afterwards alice's budget is spent until the window ends: her calls get 429 on all three servers.
set -eu
REST=${REST:-http://${PLAYLISTS_HOST:-127.0.0.1}:${PLAYLISTS_REST_PORT:-8080}}
CREDENTIALS=${PLAYLISTS_HOME:-.demo}/credentials.json
API_KEY=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["users"]["alice"]["api_key"])' "$CREDENTIALS")
# The budget the servers were started with (PLAYLISTS_RATE_LIMIT, 600/minute unless set). The
# limiter counts in fixed windows; more than twice the budget overflows one even when the
# flood straddles two.
RATE=${PLAYLISTS_RATE_LIMIT:-600/minute}
CALLS=$(( ${RATE%%/*} * 2 + 1 ))

echo "$CALLS calls to $REST/v1/moods, 16 at a time (the budget: $RATE); how many got each status:"
# #[1-N] is curl's URL globbing: N requests (the fragment after # is never sent). In parallel
# mode curl 7.x draws a progress meter even with -s; --no-progress-meter stops it.
curl -s --no-progress-meter -o /dev/null -w '%{http_code}\n' --parallel --parallel-max 16 "$REST/v1/moods#[1-$CALLS]" \
  -H "X-API-Key: $API_KEY" | sort | uniq -c
