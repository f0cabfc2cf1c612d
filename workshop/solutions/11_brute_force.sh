#!/usr/bin/env bash
# Exercise 11, find it, fix it: guess alice's password, then use the right one. Run it twice:
#   1. Ctrl-C `make serve`, start `PLAYLISTS_UNSAFE=lockout make serve`, then: bash workshop/solutions/11_brute_force.sh
#      (six 401s, then 200: nothing stopped the guessing)
#   2. Ctrl-C, start plain `make serve`, then again: bash workshop/solutions/11_brute_force.sh
#      (401s until the lockout, then 429, even for the right password)
set -eu
REST=${REST:-http://${PLAYLISTS_HOST:-127.0.0.1}:${PLAYLISTS_REST_PORT:-8080}}
CREDENTIALS=${PLAYLISTS_HOME:-.demo}/credentials.json
PASSWORD=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["users"]["alice"]["password"])' "$CREDENTIALS")

# Six wrong guesses: the lockout starts at the fifth failure. A few only: after twenty failures
# from one address, everyone calling from it would be locked out too.
for guess in 123456 password qwerty letmein alice2026 iloveyou "$PASSWORD"; do
  CODE=$(curl -s -o /dev/null -w '%{http_code}' -u "alice:$guess" "$REST/v1/me")
  if [ "$guess" = "$PASSWORD" ]; then guess="(the right password)"; fi
  echo "alice:$guess -> $CODE"
done
