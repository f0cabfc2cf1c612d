"""What a check may look at, and how it says what it saw.

A check believes only the server: the calls journalled since the exercise started and
the database as it is now. When it fails it names the call that came closest and the one
thing that call lacked, so the learner knows what to change rather than only that
something is wrong.
"""
import sqlite3
import time
from dataclasses import dataclass
from typing import Callable

from core.config import Settings

from . import journal

PROTOCOLS = {"rest": "REST", "soap": "SOAP", "grpc": "gRPC"}
# What each of our own clients calls itself (the User-Agent, or gRPC's user-agent metadata).
OUR_CLIENTS = ("python-requests/", "Zeep/", "grpc-python/")


@dataclass(frozen=True)
class Result:
    solved: bool
    message: str


class Seen:
    """What the server recorded since an exercise started: its calls, and the database now."""

    def __init__(self, settings: Settings, since: float, users=None):
        """`users`: only their calls count (a seat's, in class mode); None: everyone's."""
        self.settings = settings
        self.since = since
        self.calls = [call for call in journal.calls(settings.home, since) if users is None or call["user"] in users]
        self.started = time.strftime("%H:%M:%S", time.localtime(since))

    def query(self, sql: str, *args) -> list[sqlite3.Row]:
        # Read-only: a check must not change what it checks.
        conn = sqlite3.connect(f"file:{self.settings.database}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()


@dataclass(frozen=True)
class Need:
    """One thing a call must be; `missing` says, of a call that is not, what it lacks."""
    test: Callable[[dict], bool]
    missing: str | Callable[[dict], str]

    def complaint(self, call: dict) -> str:
        return self.missing(call) if callable(self.missing) else self.missing


def met(call: dict, needs) -> int:
    """How many of `needs`, in order, the call meets before the first it fails."""
    count = 0
    for need in needs:
        if not need.test(call):
            break
        count += 1
    return count


def first(calls, *needs: Need) -> dict | None:
    """The earliest call that meets every need."""
    return next((call for call in calls if met(call, needs) == len(needs)), None)


def closest_miss(calls, needs, nothing: str) -> str:
    """A sentence about the call that came closest to meeting `needs`, and what it lacked;
    `nothing` when there was no call at all."""
    return f"I saw {miss(calls, needs)}." if calls else nothing


def miss(calls, needs) -> str:
    """The call that came closest to meeting `needs` (the latest of the closest), and what it lacked."""
    best = max(calls, key=lambda call: (met(call, needs), call["at"]))
    return f"{describe(best)}, but {needs[met(best, needs)].complaint(best)}"


def describe(call: dict) -> str:
    """'a REST list_moods by alice (api_key) from curl/7.88.1, answered 200', or '…, refused with …'."""
    # A refusal before the credential was accepted (a spent budget, a lockout, a schema
    # fault) names no user; only an unauthenticated call had no credential that worked.
    who = (f" by {call['user']} ({call['auth_method']})" if call["user"] else
           " with no accepted credential" if call["outcome"] == "unauthenticated" else "")
    answer = f"answered {call['status']}" if call["outcome"] == "ok" else refusal(call)
    return (f"a {PROTOCOLS.get(call['protocol'], call['protocol'])} {call['operation']}{who} "
            f"from {call['client'] or 'a client that gave no name'}, {answer}")


def off(call: dict, defence: str) -> bool:
    """Whether the server that answered had `defence` switched off (PLAYLISTS_UNSAFE)."""
    return defence in call.get("unsafe", "").split(",")


# --- needs that several exercises share ------------------------------------------------------

def over(protocol: str, how: str) -> Need:
    return Need(lambda c: c["protocol"] == protocol,
                lambda c: f"it came over {PROTOCOLS[c['protocol']]}, not {PROTOCOLS[protocol]}: {how}")


def operation(name: str, how: str) -> Need:
    return Need(lambda c: c["operation"] == name, lambda c: f"it was {c['operation']}, not {name}: {how}")


def from_curl(how: str) -> Need:
    def missing(call):
        client = call["client"] or "a client that gave no name"
        ours = " (one of this project's clients)" if call["client"].startswith(OUR_CLIENTS) else ""
        return f"it came from {client}{ours}, not from curl: {how}"
    return Need(lambda c: c["client"].startswith("curl/"), missing)


def refusal(call: dict) -> str:
    """'refused with 401 (unauthenticated: invalid or missing credentials)'."""
    return f"refused with {call['status']} ({call['outcome']}" + (f": {call['reason']})" if call["reason"] else ")")


def succeeded(how: str = "") -> Need:
    # describe() already said how it was refused: the complaint says only what to change. A
    # spent budget or a lockout refuses the right credential too: then the change is to wait.
    def missing(call):
        change = "wait as long as its Retry-After says, then call again" if call["outcome"] == "rate_limited" else how
        return "it has to be answered" + (f": {change}" if change else "")
    return Need(lambda c: c["outcome"] == "ok", missing)


def authenticated_by(method: str, how: str) -> Need:
    return Need(lambda c: c["auth_method"] == method,
                lambda c: f"it was authenticated by {c['auth_method']}, not {method}: {how}")
