"""A fresh start for the next group: what a group leaves behind goes, the secrets stay.

A group leaves playlists, counters (the rate limiter's and the failed logins'), the call
journal and its progress. Setup made the rest (the catalog, the users, credentials.json,
the signing keys, the certificates), and regenerating any of it would invalidate every
secret the next group has been handed; so nothing here touches it.
"""
from pathlib import Path

from core.config import Settings
from core.limits import SharedCounter
from core.storage import Database

from .journal import JOURNAL
from .progress import FILE

# The tables a group's calls write to (in class mode, each seat's progress and switches too).
# Not users, seats, tracks or moods: setup wrote those.
GROUP_TABLES = ("playlist_tracks", "playlists", "auth_failures", "seat_progress", "seat_defences")


def reset(settings: Settings) -> dict:
    """Empty the group's tables, delete the journal and the progress; return what went."""
    gone = {}
    with Database(settings.database).write() as conn:
        for table in GROUP_TABLES:  # playlist_tracks first: its rows point at playlists
            gone[table] = conn.execute(f"DELETE FROM {table}").rowcount
    # Zeroed, not removed: every running server has the counters' file mapped in memory.
    gone["rate_counters"] = SharedCounter.beside(settings.database).clear()
    for name in (JOURNAL, JOURNAL + ".1", FILE):
        gone[name] = _remove(settings.home / name)
    return gone


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
