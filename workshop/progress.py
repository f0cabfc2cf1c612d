"""Progress: $PLAYLISTS_HOME/workshop.json, one entry per exercise the group has opened.

An entry holds when the exercise started (its checks look only at calls made since
then), how many hints were shown, and when it was solved:
{"exercises": {"2": {"started_at": 1795684152.4, "hints": 1, "solved_at": null}}}
"""
import json
import os
import time
from pathlib import Path

FILE = "workshop.json"


class Progress:
    """The progress file, read once and written back whole."""

    def __init__(self, home: Path):
        self.path = home / FILE
        self.exercises = json.loads(self.path.read_text())["exercises"] if self.path.exists() else {}

    def get(self, number: int) -> dict | None:
        return self.exercises.get(str(number))

    def start(self, number: int) -> dict:
        """The exercise's entry, opened now if it was never opened (or was reset)."""
        return self.exercises.setdefault(str(number), {"started_at": time.time(), "hints": 0, "solved_at": None})

    def forget(self, number: int) -> None:
        self.exercises.pop(str(number), None)

    def save(self) -> None:
        # Written aside, then renamed over the old file: a reader sees the old or the new
        # progress, never half of it.
        partial = self.path.with_name(FILE + ".partial")
        partial.write_text(json.dumps({"exercises": self.exercises}, indent=2) + "\n")
        os.replace(partial, self.path)


def view(exercise, entry: dict | None) -> dict:
    """An exercise as a learner sees it: the goal, the hints shown so far, when started and
    solved. The workshop API answers with this; the command line prints it."""
    entry = entry or {"started_at": None, "hints": 0, "solved_at": None}
    return {"number": exercise.number, "slug": exercise.slug, "title": exercise.title, "topic": exercise.topic,
            "goal": exercise.goal, "hints": list(exercise.hints[:entry["hints"]]), "hints_total": len(exercise.hints),
            "started_at": entry["started_at"], "solved_at": entry["solved_at"]}
