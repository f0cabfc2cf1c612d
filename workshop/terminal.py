"""How the exercises look in a terminal, whether they come from this machine or a class's server.

Each printer takes an exercise as `progress.view` shapes it, the shape the workshop API answers
with too, and `prog`, the command to suggest next (`.venv/bin/python -m workshop`, with --server URL in class).
"""
import textwrap
import time

from core.config import moved

WIDTH = 92


def wrap(text: str, indent: str = "") -> str:
    """Prose wrapped to WIDTH; a line indented by four spaces is a command, kept as written.
    The texts name the default addresses; the reader sees where this run's servers are."""
    return "\n".join(line if line.startswith("    ") else
                     textwrap.fill(line, WIDTH, initial_indent=indent, subsequent_indent=indent)
                     for line in moved(text).split("\n"))


def clock(at: float) -> str:
    """'09:12:03' today, '2026-11-25 09:12' on another day."""
    same_day = time.localtime(at)[:3] == time.localtime()[:3]
    return time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M", time.localtime(at))


def counted(n: int, thing: str) -> str:
    return f"{n} {thing}{'s' * (n != 1)}"


def print_list(items: list[dict], prog: str) -> None:
    width = max(len(item["title"]) for item in items)
    for item in items:
        done = "✓ solved" if item["solved_at"] else ""
        print(f"{item['number']:>2}  {item['title']:<{width}}  {item['topic']:<20}  {done}".rstrip())
    print(f"\nBegin with: {prog} show 1")


def print_show(item: dict, prog: str) -> None:
    number = item["number"]
    print(f"Exercise {number} · {item['topic']} · {item['title']}\n\n{wrap(item['goal'])}\n")
    for shown, text in enumerate(item["hints"], start=1):
        print(wrap(f"Hint {shown} of {item['hints_total']}: {text}"), end="\n\n")
    left = item["hints_total"] - len(item["hints"])
    if left:
        print(f"{left} hint{'s' * (left > 1)} left: {prog} hint {number}")
    print(f"When you are done: {prog} check {number}")
    print(f"Started at {clock(item['started_at'])}: only calls made since then count."
          + (f" Solved at {clock(item['solved_at'])}." if item["solved_at"] else ""))


def print_hint(item: dict) -> None:
    """The hint just revealed: the last of those shown."""
    print(wrap(f"Hint {len(item['hints'])} of {item['hints_total']}: {item['hints'][-1]}"))


def print_status(items: list[dict]) -> None:
    rows = [("#", "exercise", "hints", "solved")]
    for item in items:
        solved = clock(item["solved_at"]) if item["solved_at"] else "-"
        rows.append((str(item["number"]), item["title"], f"{len(item['hints'])}/{item['hints_total']}", solved))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(f"{row[0]:>{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}")
    print(f"\n{sum(1 for item in items if item['solved_at'])} of {len(items)} solved")
