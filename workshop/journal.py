"""The workshop's side of the call journal: reading the calls, and announcing a solve.

The servers append one line per call to $PLAYLISTS_HOME/events.jsonl (core/events.py).
A solve goes into the same file, so that the live view, which already follows it, can
show solves as they happen. It is written by core's own single O_APPEND write
(`events.append`): three server processes and this one append to the file at once, and a
line never interleaves.
"""
import time
from pathlib import Path

from core import events

JOURNAL = events.JOURNAL
SOLVE = "solve"
# A solve is not a call, and `kind` says so. It still carries every field of a call, with
# neutral values, because readers written for calls index them (event["protocol"] in the
# live view's stream, e.bytes_in.toLocaleString() in its page): an older reader shows a
# solve as one more line instead of failing on a missing key.
CALL_SHAPED = {"protocol": "workshop", "operation": "solve", "user": "", "auth_method": "", "outcome": "ok",
               "status": "solved", "stopped_at": 0, "reason": "", "bytes_in": 0, "bytes_out": 0, "ms": 0.0,
               "client": "workshop", "unsafe": ""}


def calls(home: Path, since: float) -> list[dict]:
    """The calls the servers journalled at or after `since`, oldest first; solves left out."""
    return [event for event in events.read(home, since) if event.get("kind") != SOLVE]


def record_solve(home: Path, number: int, slug: str, title: str, hints: int, summary: str) -> dict:
    """Append a solve to the journal, as the live view expects it, and return it."""
    solve = {**CALL_SHAPED, "kind": SOLVE, "exercise": number, "slug": slug, "title": title, "hints": hints,
             "summary": summary, "at": time.time()}
    events.append(home, solve)
    return solve
