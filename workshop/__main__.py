"""`.venv/bin/python -m workshop`: the exercises, their hints one at a time, their checks, the group's progress."""
import argparse
import sys
import time

from core.config import DEFENCES, load_settings

from . import journal, remote
from .evidence import Seen
from .exercises import EXERCISES, Exercise, listing
from .progress import Progress, view
from .reset import clear_counters, reset
from .terminal import clock, counted, print_hint, print_list, print_show, print_status, wrap

PROG = ".venv/bin/python -m workshop"


def exercise_number(text: str) -> Exercise:
    if not text.isdigit() or not 1 <= int(text) <= len(EXERCISES):
        raise argparse.ArgumentTypeError(f"exercises are numbered 1 to {len(EXERCISES)}, not {text!r}")
    return EXERCISES[int(text) - 1]


def opened(settings, progress: Progress, number: int) -> dict:
    """The exercise's entry. One opened now starts with fresh counters: a flood or a guessing
    game of another exercise must not refuse this one's calls."""
    if progress.get(number) is None:
        clear_counters(settings)
    return progress.start(number)


def show_list(settings, progress: Progress, args) -> int:
    print_list([view(e, progress.get(e.number)) for e in EXERCISES], PROG)
    return 0


def show(settings, progress: Progress, args) -> int:
    entry = opened(settings, progress, args.exercise.number)
    progress.save()
    print_show(view(args.exercise, entry), PROG)
    return 0


def hint(settings, progress: Progress, args) -> int:
    e = args.exercise
    entry = opened(settings, progress, e.number)
    if entry["hints"] >= len(e.hints):
        print(f"No more hints for exercise {e.number}. The solution is {e.run}")
        progress.save()
        return 0
    entry["hints"] += 1
    progress.save()
    print_hint(view(e, entry))
    return 0


def check(settings, progress: Progress, args) -> int:
    e = args.exercise
    if progress.get(e.number) is None:
        opened(settings, progress, e.number)
        progress.save()
        print(wrap(f"✗ Exercise {e.number} starts now ({clock(time.time())}): only calls made from now on count. "
                   f"Do it, then check again. (.venv/bin/python -m workshop show {e.number} shows the goal.)"))
        return 1
    entry = progress.get(e.number)
    result = e.check(Seen(settings, entry["started_at"]))
    if not result.solved:
        print(wrap(f"✗ Not yet. {result.message}"))
        return 1
    if entry["solved_at"] is None:
        entry["solved_at"] = time.time()
        progress.save()
        journal.record_solve(settings.home, e.number, e.slug, e.title, entry["hints"], result.message)
    print(wrap(f"✓ Exercise {e.number} solved (at {clock(entry['solved_at'])}). {result.message}"))
    return 0


def status(settings, progress: Progress, args) -> int:
    print_status([view(e, progress.get(e.number)) for e in EXERCISES])
    return 0


def reset_progress(settings, progress: Progress, args) -> int:
    if args.exercise:
        progress.forget(args.exercise.number)
        entry = opened(settings, progress, args.exercise.number)
        progress.save()
        print(f"Exercise {args.exercise.number} starts again at {clock(entry['started_at'])}: no hints shown, "
              "not solved, and calls before now no longer count.")
        return 0
    if not args.yes:
        print(wrap("A full reset deletes every playlist, the rate-limit and failed-login counters, the call journal "
                   "and the progress of every exercise; the users, the catalog, credentials.json, the keys and the "
                   "certificates stay. To do it: .venv/bin/python -m workshop reset --yes"), file=sys.stderr)
        return 1
    gone = reset(settings)
    deleted = listing([counted(gone["playlists"], "playlist"), counted(gone["rate_counters"], "rate counter"),
                       counted(gone["auth_failures"], "failed-login record")])
    print(wrap(f"Fresh start in {settings.home}: {deleted} deleted; the call journal and the progress removed. "
               "Kept: the users, the catalog, credentials.json, the keys and the certificates."))
    return 0


def defence_here(settings, progress: Progress, args) -> int:
    print(wrap("On your own machine the servers' switches are PLAYLISTS_UNSAFE: PLAYLISTS_UNSAFE="
               f"{args.defence} make serve. In class, add --server URL."), file=sys.stderr)
    return 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=".venv/bin/python -m workshop",
                                description="The workshop's exercises: goals, hints one at a time, checks against "
                                            "what the servers recorded, and the group's progress.",
                                epilog="Progress lives in $PLAYLISTS_HOME/workshop.json (default .demo/).")
    p.add_argument("--server", metavar="URL",
                   help="a class's REST server (class mode): the exercises and checks are that server's, and "
                        "$PLAYLISTS_HOME is your seat's folder")
    commands = p.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("list", help="the exercises, in the handout's order").set_defaults(run=show_list)
    for name, run, text in (("show", show, "an exercise's goal, and the hints shown so far (starts it)"),
                            ("hint", hint, "reveal the exercise's next hint, one at a time"),
                            ("check", check, "check the exercise against what the servers recorded")):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("exercise", metavar="N", type=exercise_number, help="the exercise's number")
        command.set_defaults(run=run)
    commands.add_parser("status", help="progress, as a table: hints used, solved when").set_defaults(run=status)
    again = commands.add_parser("reset", help="start exercise N again, or (with --yes) everything for the next group",
                                description="With N: that exercise's progress only. Without: every playlist, the "
                                            "counters, the call journal and all progress; never the secrets.")
    again.add_argument("exercise", metavar="N", type=exercise_number, nargs="?", help="the exercise's number")
    again.add_argument("--yes", action="store_true", help="confirm a full reset")
    again.set_defaults(run=reset_progress)
    switch = commands.add_parser("defence", help="with --server: switch a defence off or on, for your seat only")
    switch.add_argument("defence", choices=DEFENCES)
    switch.add_argument("state", choices=("off", "on"))
    switch.set_defaults(run=defence_here)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.server:
        return remote.run(args.server, args)
    settings = load_settings()
    if not settings.database.exists():
        raise SystemExit(f"no database at {settings.database}: run `make setup` first")
    return (args.run if args.command else show_list)(settings, Progress(settings.home), args)


if __name__ == "__main__":
    sys.exit(main())
