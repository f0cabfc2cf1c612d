"""Which defences are on for a caller: the one question the core asks before each defence.

On a workshop machine a teacher may switch a defence off for the whole server
(PLAYLISTS_UNSAFE, loopback only). In class mode a seat switches it off for its own two
users instead (the `seat_defences` table, written through the workshop API): every other
seat keeps it, and with the ownership check off a seat's users may read each other's
playlists, never another seat's.
"""
from .storage import Database


class Defences:
    def __init__(self, db: Database, settings):
        self.db = db
        self.unsafe = settings.unsafe
        self.classroom = settings.classroom

    def off(self, defence: str, user: str = "") -> bool:
        """Whether `defence` is switched off for calls made by `user` ('' for an unknown caller)."""
        if defence in self.unsafe:
            return True
        if not (self.classroom and user):
            return False
        with self.db.connection() as conn:
            return conn.execute("SELECT 1 FROM seat_defences JOIN seat_users USING (seat) "
                                "WHERE name = ? AND defence = ?", (user, defence)).fetchone() is not None

    def seated(self, user: str) -> bool:
        """Whether `user` is a seat's, in class mode."""
        if not self.classroom:
            return False
        with self.db.connection() as conn:
            return conn.execute("SELECT 1 FROM seat_users WHERE name = ?", (user,)).fetchone() is not None

    def switched_off(self, user: str = "") -> str:
        """The defences off for `user`, as the call journal marks them: 'bola,ratelimit'."""
        if not (self.classroom and user):
            return ",".join(sorted(self.unsafe))
        with self.db.connection() as conn:
            rows = conn.execute("SELECT defence FROM seat_defences JOIN seat_users USING (seat) WHERE name = ? "
                                "ORDER BY defence", (user,)).fetchall()
        return ",".join(row["defence"] for row in rows)

    def readable_owners(self, user: str) -> tuple | None:
        """Whose playlists `user` may read: only their own with the ownership check on; with it
        off, everyone's (PLAYLISTS_UNSAFE) or, in class mode, their seat's (None: everyone's)."""
        if "bola" in self.unsafe:
            return None
        if not self.off("bola", user):
            return (user,)
        with self.db.connection() as conn:
            return tuple(row["name"] for row in conn.execute(
                "SELECT name FROM seat_users WHERE seat = (SELECT seat FROM seat_users WHERE name = ?)", (user,)))
