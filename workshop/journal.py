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


def calls(home: Path, since: float) -> list[dict]:
    """The calls the servers journalled at or after `since`, oldest first; solves left out."""
    return [event for event in events.read(home, since) if event.get("kind") != SOLVE]


def record_solve(home: Path, number: int, slug: str, title: str, hints: int, summary: str, seat: str = "") -> dict:
    """Append a solve to the journal, as the live view expects it, and return it (`seat`: in class mode)."""
    solve = {"kind": SOLVE, "exercise": number, "slug": slug, "title": title, "hints": hints,
             "summary": summary, "at": time.time(), **({"seat": seat} if seat else {})}
    events.append(home, solve)
    return solve
