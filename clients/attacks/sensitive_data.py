"""Sensitive data: a card number, an e-mail address and a token as playlist names, one per protocol."""
import sys

from .common import load, run_one, say, title, verdict

ATTEMPTS = [("rest", "card number", "4111 1111 1111 1111"),   # passes the Luhn check
            ("soap", "e-mail address", "alice@example.org"),
            ("grpc", "key or token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWhlcmU")]


def run(targets, args):
    title("sensitive data", """
        Alice, careless, pastes things that have no business in a playlist name.""")
    alice = ("key", load("alice")["api_key"])
    answers = [(kind, value, targets.call(protocol, "create_playlist", alice, name=f"Mix {value}"))
               for protocol, kind, value in ATTEMPTS]
    # What got in (the scan switched off) stays: the workshop's check (exercise 13) reads it,
    # and with the scan on it is read back withheld.
    if any(answer.kind == "rate_limited" for _, _, answer in answers):
        return verdict(False, "refused for another reason", "a limit refused alice's calls", "NOT SHOWN")
    echoed = [value for _, value, answer in answers if value.encode() in answer.raw]
    say()
    say(f"answers that repeat the value sent: {len(echoed)}")
    stopped = not echoed and all(answer.kind == "invalid" and kind in answer.detail for kind, _, answer in answers)
    return verdict(stopped, "the payload scan",
                   "the service scans text coming in for card numbers (Luhn), e-mail addresses and key- or "
                   "token-shaped strings; it names the kind and never echoes the value")


if __name__ == "__main__":
    sys.exit(run_one(sys.modules[__name__]))
