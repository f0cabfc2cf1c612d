"""Expired token: a stolen OAuth token replayed after it expired, on each protocol.

Tokens live as long as the server's PLAYLISTS_TOKEN_SECONDS says (600 s by default), and
no client can ask for less. So this attack waits for the stolen token to expire, up to
--token-wait seconds; against servers that issue longer-lived tokens it says so and shows
nothing, rather than fake an expired token (one made without the server's key would be
refused for its signature, not for its age). `make attacks` starts the servers with
PLAYLISTS_TOKEN_SECONDS=3.
"""
import base64
import json
import sys
import time

from .common import PROTOCOLS, load, run_one, say, shown, title, verdict


def claims_of(token: str) -> dict:
    """A JWT's claims: its middle part is base64url JSON, readable by anyone (signed, not secret)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def run(targets, args):
    title("expired token", """
        Mallory finds one of alice's access tokens in an old log and replays it.""")
    alice = load("alice")
    issued = targets.token(alice["client_id"], alice["client_secret"])
    if not issued.ok:
        say(f"POST /oauth/token answered {issued.status}: {issued.raw.decode(errors='replace').strip()}")
        return verdict(False, "no token to steal", "is $PLAYLISTS_HOME the servers' own?", "NOT SHOWN")
    token, lifetime = issued.data["access_token"], issued.data["expires_in"]
    claims = claims_of(token)
    say(f"alice's token  {shown(token)}   expires_in {lifetime} s")
    say(f"its claims     sub {claims['sub']} · aud {claims['aud']} · scope {claims['scope']} · "
        f"exp {time.strftime('%H:%M:%S', time.localtime(claims['exp']))}")
    say()
    if lifetime > args.token_wait:
        say(f"This server's tokens live {lifetime} s: longer than --token-wait ({args.token_wait:g} s).")
        say("Start the servers with PLAYLISTS_TOKEN_SECONDS=3 (as `make attacks` does) to watch one expire.")
        return verdict(False, "tokens live too long to wait for", "the token would not expire in time",
                       "NOT SHOWN")
    fresh = targets.call("rest", "who_am_i", ("bearer", token))
    # Wait on the token's own clock, its "exp" claim (plus a second, for clocks that differ).
    say(f"… waiting until {time.strftime('%H:%M:%S', time.localtime(claims['exp']))} has passed …")
    while time.time() <= claims["exp"] + 1:
        time.sleep(0.1)
    replays = [targets.call(protocol, "who_am_i", ("bearer", token)) for protocol in PROTOCOLS]
    stopped = fresh.kind == "ok" and all(a.kind == "unauthenticated" for a in replays)
    return verdict(stopped, "the token's expiry, checked by every server",
                   "the token is a signed JWT whose exp claim every server checks: a stolen copy is "
                   "worth nothing once its lifetime is over, on any protocol")


if __name__ == "__main__":
    sys.exit(run_one(sys.modules[__name__]))
