"""Brute force: password guesses for alice over Basic, WS-Security and gRPC metadata, in turn."""
import sys
import time

from .common import PROTOCOLS, credential_text, exchange, load, run_one, title, verdict

DICTIONARY = ["123456", "password", "alice", "qwerty", "letmein"]


def run(targets, args):
    title("brute force", """
        Mallory tries common passwords for alice, switching protocol each time. Her sixth guess
        is alice's real password: this demo's attacker is lucky (it reads credentials.json).""")
    real = load("alice")["password"]
    for number, guess in enumerate(DICTIONARY + [real], start=1):
        protocol = PROTOCOLS[(number - 1) % 3]
        if number == len(DICTIONARY):
            last_wrong_sent = time.monotonic()
        answer = targets.call(protocol, "who_am_i", ("basic", "alice", guess), show=False)
        typed = guess if guess != real else "•••••• (the real one)"
        exchange(protocol, f"guess {number}: WhoAmI", credential_text(protocol, ("basic", "alice", typed)), answer)
    if answer.kind == "ok" and time.monotonic() - last_wrong_sent >= 1:
        # The first lock lasts a second: on a machine this slow it was over before the last guess.
        return verdict(False, "too slow a machine to see a 1 s lock", "run it again", "NOT SHOWN")
    return verdict(answer.kind == "rate_limited", "the lockout after 5 wrong passwords",
                   "after 5 failures alice's account waits 1 s, 2 s, 4 s … (up to 300 s) before any "
                   "password is checked, the right one too; an address waits after 20")


if __name__ == "__main__":
    sys.exit(run_one(sys.modules[__name__]))
