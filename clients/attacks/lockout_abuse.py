"""Lockout abuse: wrong passwords for alice sent from elsewhere, to lock her out of her own account."""
import sys

from .common import PROTOCOLS, Targets, credential_text, exchange, load, run_one, say, title, verdict

GUESSES = 10             # twice what locks a password out
CLASSROOM = 20           # failed logins that lock an address out, for passwords of names new to it


def run(targets, args):
    title("lockout abuse", f"""
        The lockout that stops password guessing can be turned into a weapon: Mallory sends
        {GUESSES} wrong passwords for alice from another address (127.0.0.2) to lock alice out,
        then {CLASSROOM} wrong logins from a classroom's shared address (127.0.0.3) to lock out
        everyone behind it. Alice signed in from her own address (127.0.0.1) before.""")
    password = load("alice")["password"]
    for protocol in PROTOCOLS:
        targets.call(protocol, "who_am_i", ("basic", "alice", password), show=protocol == "rest")
    mallory, classroom = elsewhere(targets, "127.0.0.2"), elsewhere(targets, "127.0.0.3")
    for number in range(1, GUESSES + 1):
        protocol = PROTOCOLS[number % 2]
        answer = mallory.call(protocol, "who_am_i", ("basic", "alice", f"guess-{number}"), show=False)
        if number in (1, GUESSES):
            exchange(protocol, f"from 127.0.0.2, guess {number}", credential_text(protocol, ("basic", "alice", "…")),
                     answer)
    for number in range(CLASSROOM):
        classroom.call("rest", "who_am_i", ("basic", f"student-{number}", "guess"), show=False)
    say(f"… and {CLASSROOM} failed logins from 127.0.0.3; the next guess from there:")
    classroom.call("soap", "who_am_i", ("basic", "student-next", "guess"))
    say("Guessing is held back; and now alice, from her own address, and a key from the class:")
    hers = [targets.call(protocol, "who_am_i", ("basic", "alice", password)) for protocol in PROTOCOLS]
    key = classroom.call("soap", "who_am_i", ("key", load("alice")["api_key"]))
    stopped = all(answer.kind == "ok" for answer in [*hers, key])
    return verdict(stopped, "a lockout that counts where it should",
                   "a password attempt from an address where alice signed in before counts only there; from "
                   "elsewhere it counts against alice and that address (5 and 20 failures lock, 1 s doubling "
                   "up to 300 s); a key, a token or a certificate is never refused for anyone's failures")


def elsewhere(targets, address: str) -> Targets:
    """The same servers, called from another local address (loopback is all of 127.0.0.0/8)."""
    return Targets(targets.rest_url, targets.soap_url, targets.grpc_address, source=address)


if __name__ == "__main__":
    sys.exit(run_one(sys.modules[__name__]))
