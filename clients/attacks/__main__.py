"""`.venv/bin/python -m clients.attacks [NAME|all]`: run attacks against the three servers, then sum up.

The exit code is 0 only if every attack was stopped.
"""
import importlib
import sys

import grpc
import requests

from . import ORDER
from .common import WIDTH, Targets, parser, preflight


def main(argv=None) -> int:
    p = parser(".venv/bin/python -m clients.attacks", __doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("attack", choices=[*ORDER, "all"], help="which attack to run, or all of them")
    args = p.parse_args(argv)
    targets = Targets(args.rest, args.soap, args.grpc)
    targets.wait_until_listening(args.wait)
    preflight(targets)
    names = ORDER if args.attack == "all" else [args.attack]
    results = {}
    try:
        for name in names:
            results[name] = importlib.import_module(f"{__package__}.{name}").run(targets, args)
    except requests.ConnectionError as error:
        raise SystemExit(f"attacks: cannot reach a server ({error.__class__.__name__}): is `make serve` running?")
    except grpc.RpcError as error:
        raise SystemExit(f"attacks: the gRPC server failed: {error.code().name}")
    if len(results) > 1:
        print(f"\n━━ summary {'━' * (WIDTH - 11)}")
        for name, result in results.items():
            what = {"STOPPED": f"by {result.defence}", "GOT THROUGH": f"{result.defence}: off?"}
            print(f"   {name:<16} {result.word:<12} {what.get(result.word, result.defence)}")
        print(f"\n   {sum(r.stopped for r in results.values())} of {len(results)} attacks stopped")
    return 0 if all(r.stopped for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
