"""`.venv/bin/python -m bench`: REST, SOAP and gRPC measured side by side, each against its bare framework.

Prints one line per measurement while it runs, then a Markdown report, which it also
writes to OUT/latest.md with a chart in OUT/latest.png. Every server and load process it
starts is stopped at the end, on an error and on Ctrl-C.
"""
import argparse
import contextlib
import os
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path

from . import fixture, report, runner, serialization, servers
from .calls import PROTOCOLS
from .load import LoadPool

RESULTS = Path(__file__).resolve().parent / "results"
# The limiter still counts every call (its SQLite write is part of the price we measure),
# but this limit is never reached.
RATE_LIMIT = "100000000/minute"
MEASURED_OPS = ("get_playlist", "search_tracks", "create_playlist")
FULL = {"ops": MEASURED_OPS, "concurrency": (1, 16, 64), "duration": 2.5, "warmup": 0.75, "basic": True}
QUICK = {"ops": ("get_playlist",), "concurrency": (1, 16), "duration": 1.0, "warmup": 0.5, "basic": False}
ROUNDS, QUICK_ROUNDS = 5, 3  # timed rounds per codec in the serialization micro-benchmark


def names(choices):
    """An argparse type: comma-separated names, each one of `choices`."""
    def parse(text: str) -> tuple:
        chosen = tuple(n.strip() for n in text.split(",") if n.strip())
        unknown = [n for n in chosen if n not in choices]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(f"choose from {','.join(choices)}")
        return chosen
    return parse


def numbers(text: str) -> tuple:
    try:
        values = tuple(int(n) for n in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("positive whole numbers, comma-separated, e.g. 1,16,64")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="GetPlaylist only, at concurrency 1 and 16, 1 s each, no Basic auth: under a minute")
    parser.add_argument("--out", type=Path, metavar="DIR", default=RESULTS,
                        help="folder for latest.md and latest.png (default bench/results)")
    parser.add_argument("--protocols", type=names(PROTOCOLS), metavar="LIST", default=PROTOCOLS,
                        help="comma-separated, from rest,soap,grpc (default: all three)")
    parser.add_argument("--ops", type=names(MEASURED_OPS), metavar="LIST",
                        help="comma-separated, from get_playlist,search_tracks,create_playlist "
                             "(default: all three; --quick: get_playlist)")
    parser.add_argument("--concurrency", type=numbers, metavar="LIST",
                        help="calls in flight, comma-separated (default 1,16,64; --quick: 1,16)")
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help="seconds measured per measurement (default 2.5; --quick: 1)")
    parser.add_argument("--warmup", type=float, metavar="SECONDS",
                        help="seconds of uncounted calls before each measurement (default 0.75; --quick: 0.5)")
    parser.add_argument("--basic", action=argparse.BooleanOptionalAction,
                        help="also measure GetPlaylist with Basic auth at concurrency 1 (default: on; --quick: off)")
    parser.add_argument("--load-processes", type=int, metavar="N", default=4,
                        help="load-generator processes that share the concurrency (default 4)")
    parser.add_argument("--no-chart", action="store_true", help="write no PNG chart")
    parser.add_argument("--home", type=Path, metavar="DIR",
                        help="build the fresh $PLAYLISTS_HOME in this new folder and keep it, with every "
                             "server's log and events.jsonl (default: a temporary folder, removed)")
    return parser


def settings_from(args) -> runner.Settings:
    """The --quick or full defaults, with every option given on the command line on top."""
    chosen = {**(QUICK if args.quick else FULL),
              **{k: v for k in ("ops", "concurrency", "duration", "warmup", "basic")
                 if (v := getattr(args, k)) is not None}}
    return runner.Settings(protocols=args.protocols, load_processes=args.load_processes, **chosen)


def stop_on_sigterm(*_) -> None:
    raise SystemExit(143)  # unwinds through every `with`: servers and load processes are stopped


def home_folder(kept: Path | None):
    """The fresh $PLAYLISTS_HOME: a temporary folder, removed at the end, or --home, kept."""
    if kept is None:
        return tempfile.TemporaryDirectory(prefix="bench-home-")
    if kept.exists() and any(kept.iterdir()):
        raise SystemExit(f"bench: --home {kept} is not empty; the benchmark needs a fresh home")
    kept.mkdir(parents=True, exist_ok=True)
    return contextlib.nullcontext(str(kept))


def run(settings: runner.Settings, kept_home: Path | None, rounds: int, progress) -> runner.Results:
    """Set up a fresh home, time the codecs, then measure protocol after protocol."""
    results = runner.Results(settings)
    with home_folder(kept_home) as folder, LoadPool(settings.load_processes) as pool:
        home = Path(folder).resolve()
        # Every defence stays on (no PLAYLISTS_UNSAFE): we measure what users run.
        environment = {k: v for k, v in os.environ.items() if k not in ("PLAYLISTS_DB", "PLAYLISTS_UNSAFE")}
        environment.update(PLAYLISTS_HOME=str(home), PLAYLISTS_RATE_LIMIT=RATE_LIMIT)
        fixture_path = fixture.make_home(home, environment)
        data = fixture.load(fixture_path)
        print("serialization micro-benchmark ...", flush=True)
        results.codecs = serialization.run(data, rounds=rounds)
        for protocol in settings.protocols:
            runner.bench_protocol(protocol, pool, home, environment, data, fixture_path, settings, results, progress)
    return results


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    began = time.monotonic()
    machine_before, ours_before = servers.machine_busy_seconds(), servers.own_cpu_seconds()
    total = runner.count(settings)
    print(f"bench: {total} measurements of {settings.duration:g} s, each after {settings.warmup:g} s of warm-up: "
          f"about {runner.estimate_seconds(settings) / 60:.0f} min on an idle machine, longer on a busy one. "
          "Ctrl-C stops it, and every server it started.", flush=True)

    done = []

    def progress(measurement):
        done.append(measurement)
        print(report.progress_line(len(done), total, time.monotonic() - began, measurement), flush=True)

    try:
        results = run(settings, args.home, QUICK_ROUNDS if args.quick else ROUNDS, progress)
    except KeyboardInterrupt:
        print("\nbench: interrupted; every server and load process it started is stopped", file=sys.stderr)
        return 130
    wall = time.monotonic() - began
    # What other programs took from the machine while we measured: the honest caveat.
    others = (servers.machine_busy_seconds() - machine_before) - (servers.own_cpu_seconds() - ours_before)
    command = ".venv/bin/python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = report.markdown(results, command.strip(), wall, max(0.0, others) / wall)
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(text)
    written = [args.out / "latest.md"]
    if not args.no_chart:
        from . import chart  # matplotlib is a development dependency: imported only when drawing
        chart.draw(results, args.out / "latest.png")
        written.append(args.out / "latest.png")
    print("bench: wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
