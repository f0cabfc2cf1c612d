"""A fresh start for the next group: what a group leaves behind goes, the secrets stay.

A group leaves playlists, counters (the rate limiter's and the failed logins'), the call
journal and its progress. Setup made the rest (the catalog, the users, credentials.json,
the signing keys, the certificates), and regenerating any of it would invalidate every
secret the next group has been handed; so nothing here touches it.
"""
from pathlib import Path

from core.config import Settings
from core.events import ROTATED
from core.limits import SharedCounter
from core.storage import Database

from .journal import JOURNAL
from .progress import FILE

# The tables a group's calls write to (in class mode, each seat's progress and switches too).
# Not users, seats, tracks or moods: setup wrote those.
GROUP_TABLES = ("playlist_tracks", "playlists", "seat_progress", "seat_defences")


def clear_counters(settings: Settings) -> dict:
    """Forget the rate limiter's budgets and the failed logins: what an exercise starts from,
    so that the flood or the guessing of another exercise never refuses this one's calls."""
    gone = _empty(settings, ("auth_failures",))
    # Zeroed, not removed: every running server has the counters' file mapped in memory.
    gone["rate_counters"] = SharedCounter.beside(settings.database).clear()
    return gone


def reset(settings: Settings) -> dict:
    """Empty the group's tables, delete the journal and the progress; return what went."""
    gone = {**_empty(settings, GROUP_TABLES), **clear_counters(settings)}
    for name in (JOURNAL, ROTATED, FILE):
        gone[name] = _remove(settings.home / name)
    return gone


def _empty(settings: Settings, tables: tuple) -> dict:
    with Database(settings.database).write() as conn:
        return {table: conn.execute(f"DELETE FROM {table}").rowcount for table in tables}


def _remove(path: Path) -> bool:
    # Removed, not emptied: the servers open the journal anew for every line, so their next
    # call starts a new file, and the live view, following the old file like `tail -F`,
    # moves to the new one from its first line. An emptied file would leave the live view's
    # read position past the end, and it would miss the first lines written after.
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
