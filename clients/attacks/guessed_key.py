"""Guessed key: made-up API keys, one per protocol; none may get in."""
import secrets
import sys

from .common import PROTOCOLS, run_one, say, title, verdict


def run(targets, args):
    title("guessed key", """
        Mallory has no key, so she makes some up, shaped like the real ones: pk_ and 32 characters.""")
    guesses = {protocol: ("key", "pk_" + secrets.token_urlsafe(24)) for protocol in PROTOCOLS}
    answers = [targets.call(protocol, "who_am_i", guess) for protocol, guess in guesses.items()]
    say()
    say(f"the three refusals read the same: {len({a.detail for a in answers}) == 1}")
    stopped = all(a.kind == "unauthenticated" for a in answers) and len({a.detail for a in answers}) == 1
    return verdict(stopped, "random keys, kept only as hashes",
                   "a key is 192 random bits and the server keeps only its SHA-256: a guess matches "
                   "nothing, and every refusal reads the same, whatever was wrong")


if __name__ == "__main__":
    sys.exit(run_one(sys.modules[__name__]))
