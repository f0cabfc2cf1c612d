"""The workshop in class mode: the same exercises, each seat with its own progress and checks.

A seat's progress is a row per exercise in the database (`seat_progress`), not
workshop.json: one server keeps every seat's. A check looks only at the calls made by the
seat's two users since the seat started the exercise. The trainer reads every seat's
progress as a scoreboard, and may reset one seat or the whole room.
"""
import time

from core import classroom
from core.config import Settings, moved
from core.storage import Database

from . import journal
from .evidence import Result, Seen
from .exercises import EXERCISES, Exercise
from .progress import view


class SeatWorkshop:
    """One seat's view of the exercises: start, hints one at a time, check."""

    def __init__(self, settings: Settings, db: Database, seat: str):
        self.settings = settings
        self.db = db
        self.seat = seat
        # The texts name the default addresses; a seat reads the class's.
        self.environ = classroom.environment(classroom.seat_credentials(settings.home, seat)["servers"])

    def _entry(self, number: int):
        with self.db.connection() as conn:
            return conn.execute("SELECT * FROM seat_progress WHERE seat = ? AND exercise = ?",
                                (self.seat, number)).fetchone()

    def describe(self, exercise: Exercise) -> dict:
        entry = self._entry(exercise.number)
        item = view(exercise, dict(entry) if entry else None)
        return {**item, "goal": self.moved(item["goal"]), "hints": [self.moved(hint) for hint in item["hints"]]}

    def moved(self, text: str) -> str:
        return moved(text, self.environ)

    def exercises(self) -> list[dict]:
        return [self.describe(exercise) for exercise in EXERCISES]

    def start(self, exercise: Exercise) -> dict:
        """Open the exercise, once: only calls made from now on count for its check."""
        with self.db.write() as conn:
            conn.execute("INSERT OR IGNORE INTO seat_progress VALUES (?, ?, ?, 0, NULL)",
                         (self.seat, exercise.number, time.time()))
        return self.describe(exercise)

    def hint(self, exercise: Exercise) -> dict:
        """Show one more hint (starting the exercise if need be)."""
        self.start(exercise)
        with self.db.write() as conn:
            conn.execute("UPDATE seat_progress SET hints = MIN(hints + 1, ?) WHERE seat = ? AND exercise = ?",
                         (len(exercise.hints), self.seat, exercise.number))
        return self.describe(exercise)

    def check(self, exercise: Exercise) -> Result:
        entry = self._entry(exercise.number)
        if entry is None:
            self.start(exercise)
            return Result(False, f"Exercise {exercise.number} starts now: only calls made from now on count. "
                                 "Do it, then check again.")
        checked = exercise.check(Seen(self.settings, entry["started_at"], classroom.users_of(self.seat)))
        result = Result(checked.solved, self.moved(checked.message))
        if result.solved and entry["solved_at"] is None:
            with self.db.write() as conn:
                conn.execute("UPDATE seat_progress SET solved_at = ? WHERE seat = ? AND exercise = ?",
                             (time.time(), self.seat, exercise.number))
            journal.record_solve(self.settings.home, exercise.number, exercise.slug, exercise.title, entry["hints"],
                                 result.message, self.seat)
        return result

    def defences(self) -> dict:
        """Each defence, and whether it is on for this seat."""
        with self.db.connection() as conn:
            off = {row["defence"] for row in conn.execute("SELECT defence FROM seat_defences WHERE seat = ?",
                                                          (self.seat,))}
        return {defence: defence not in off for defence in classroom.DEFENCES}


def scoreboard(db: Database) -> dict:
    """Seats × exercises: when each was started and solved, how many hints it took."""
    with db.read() as conn:
        rows = conn.execute("SELECT * FROM seat_progress ORDER BY seat, exercise").fetchall()
        off = conn.execute("SELECT seat, defence FROM seat_defences ORDER BY defence").fetchall()
    seats = []
    for seat in classroom.seats(db):
        progress = {str(row["exercise"]): {"started_at": row["started_at"], "hints": row["hints"],
                                           "solved_at": row["solved_at"]} for row in rows if row["seat"] == seat}
        seats.append({"seat": seat, "solved": sum(1 for entry in progress.values() if entry["solved_at"]),
                      "defences_off": [row["defence"] for row in off if row["seat"] == seat],
                      "exercises": progress})
    return {"exercises": [{"number": e.number, "title": e.title, "hints_total": len(e.hints)} for e in EXERCISES],
            "seats": seats}


def reset_seat(db: Database, seat: str) -> None:
    """What one seat's users left behind goes (playlists, failed logins, progress, switches);
    secrets stay. Their rate-limit counts end with their window, as everyone's do."""
    users = classroom.users_of(seat)
    marks = ",".join("?" * len(users))
    with db.write() as conn:
        conn.execute(f"DELETE FROM playlists WHERE owner IN ({marks})", users)
        conn.execute(f"DELETE FROM auth_failures WHERE key IN ({marks}) OR key LIKE 'known:% ' || ?",
                     [f"user:{user}" for user in users] + [f"{seat}-%"])
        conn.execute("DELETE FROM seat_progress WHERE seat = ?", (seat,))
        conn.execute("DELETE FROM seat_defences WHERE seat = ?", (seat,))
