"""`.venv/bin/python -m clients.attacks [NAME|all]`: run attacks against the three servers, then sum up.

The exit code is 0 only if every attack was stopped.
"""
import importlib
import sys

import grpc
import requests

from .. import credentials
from . import ORDER
from .common import WIDTH, Targets, parser, preflight


def main(argv=None) -> int:
    p = parser(".venv/bin/python -m clients.attacks", __doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("attack", nargs="?", choices=[*ORDER, "all"], help="which attack to run, or all of them")
    p.add_argument("--running", action="store_true",
                   help="only tell whether the three servers are running (for `make attacks`): exit 0 if all "
                        "three are, 3 if none is, 2 if only some are")
    args = p.parse_args(argv)
    targets = Targets(args.rest, args.soap, args.grpc)
    if args.running:
        return running(targets)
    if args.attack is None:
        p.error("name an attack, or all")
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


def running(targets: Targets) -> int:
    """Whether `make attacks` may attack the servers already running, or must start its own."""
    up = targets.listening()
    addresses = [f"{host}:{port}" for host, port in targets.listeners()]
    if all(up):
        print(f"make attacks: servers are already running on {listing(addresses)}, so the attacks go to them, "
              f"with the secrets in {credentials.home() / 'credentials.json'}; expired_token shows something only "
              "if they were started with a short PLAYLISTS_TOKEN_SECONDS.")
        return 0
    if not any(up):
        return 3
    taken = [a for a, on in zip(addresses, up) if on]
    free = [a for a, on in zip(addresses, up) if not on]
    print(f"make attacks: {listing(taken)} {'is' if len(taken) == 1 else 'are'} taken but {listing(free)} "
          f"{'is' if len(free) == 1 else 'are'} not, and it attacks either three servers already running or three "
          "of its own on these addresses: stop what runs there, or start all three with `make serve`.")
    return 2


def listing(items: list[str]) -> str:
    return " and ".join(filter(None, [", ".join(items[:-1]), items[-1]]))


if __name__ == "__main__":
    sys.exit(main())
