"""Flood: bob calls as fast as he can, switching protocol, until a server says stop."""
import sys
from collections import Counter

from .common import NAMES, PROTOCOLS, load, run_one, say, title, verdict


def run(targets, args):
    title("flood", """
        Bob, a real user, calls ListMoods as fast as he can, REST, SOAP, gRPC in turn, hoping
        that three servers mean three budgets.""")
    bob = ("key", load("bob")["api_key"])
    served = Counter()
    for number in range(1, args.max_calls + 1):
        protocol = PROTOCOLS[(number - 1) % 3]
        answer = targets.call(protocol, "list_moods", bob, show=number <= 3)
        if answer.kind != "ok":
            break
        served[protocol] += 1
        if number == 3:
            say("   …")
    else:
        say(f"{args.max_calls} calls, all answered: {dict(served)}")
        return verdict(False, "the rate limit", f"no limit held within {args.max_calls} calls")
    say()
    say(f"calls answered before the limit: {sum(served.values())} "
        f"({', '.join(f'{NAMES[p]} {served[p]}' for p in PROTOCOLS)}); then:")
    refused = [answer] + [targets.call(other, "list_moods", bob) for other in PROTOCOLS if other != protocol]
    policy = next((a.headers["RateLimit-Policy"] for a in refused if "RateLimit-Policy" in a.headers), "its limit")
    stopped = all(a.kind == "rate_limited" and a.retry_after for a in refused)
    return verdict(stopped, f"one rate limit ({policy}) for the three servers",
                   f"one budget per identity ({policy}), counted in the database the three servers share: "
                   f"switching protocol does not help")


if __name__ == "__main__":
    sys.exit(run_one(sys.modules[__name__]))
