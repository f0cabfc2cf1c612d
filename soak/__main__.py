"""`.venv/bin/python -m soak`: mixed traffic from all three protocols, some of it hostile, for a while.

It makes a fresh $PLAYLISTS_HOME, starts the REST, SOAP and gRPC servers on free loopback
ports, and runs `--concurrency` clients for `--seconds`: most are well-behaved users
(alice: each owns a playlist it reads, grows, renames, trims and now and then deletes and
makes again; each protocol also pays for a password login now and then, gRPC plays short
playlists), the others are hostile (wrong keys, and guesses at bob's password, from a
second loopback address, 127.0.0.2, so that the address lockout they earn does not lock
the users out; garbage bodies, oversized bodies, DTDs, undecodable protobuf, unknown
methods).

Every answer is sorted into: ok; an expected refusal (a hostile call refused the way the
contract says: 400, 401, 413, 429, Client.* faults, INVALID_ARGUMENT, ...); or an
unexpected error (a 5xx, a Server fault, INTERNAL or UNKNOWN, a refusal of a valid call,
a hostile call that succeeded, a timeout or a dropped connection, a traceback in a server
log, a database that fails its integrity check). It prints calls, errors by kind, p50/p99
latency per protocol and the servers' memory (RSS of every process of each server) before
and after, and exits 0 only when there was no unexpected error.

The clients and their calls are soak/traffic.py; what is printed, soak/report.py.
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from clients import calls
from serve.launch import ROOT, Server

from . import report
from .traffic import Hostile, Tally, User, client_loop

ATTACKER_ADDRESS = "127.0.0.2"     # loopback too: the whole 127.0.0.0/8 is this machine
TRACEBACK = "Traceback (most recent call last)"


def fresh_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="playlists-soak-"))
    subprocess.run([sys.executable, "-m", "core.setup"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PLAYLISTS_HOME": str(home)})
    return home


def endpoints(servers: dict, source: str | None = None) -> calls.Endpoints:
    return calls.Endpoints(f"http://127.0.0.1:{servers['rest'].port}", f"http://127.0.0.1:{servers['soap'].port}/soap",
                           servers["grpc"].address, source=source)


def memory(servers: dict) -> dict:
    """{protocol: (processes, RSS in bytes of all of them)}."""
    return {kind: (len(server.processes()), server.rss_bytes()) for kind, server in servers.items()}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=".venv/bin/python -m soak", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60, help="how long the traffic runs (default 60)")
    p.add_argument("--concurrency", type=int, default=32, help="clients at once (default 32)")
    p.add_argument("--hostile", type=int, help="of which hostile (default: one in five)")
    p.add_argument("--attacks", default="", help="only these hostile calls, comma-separated (default: all)")
    p.add_argument("--seed", type=int, default=8, help="random seed of the clients' choices (default 8)")
    p.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    p.add_argument("--keep-home", action="store_true", help="keep the temporary $PLAYLISTS_HOME")
    return p


def main() -> int:
    args = parser().parse_args()
    args.hostile = args.concurrency // 5 if args.hostile is None else args.hostile
    only = {a for a in args.attacks.split(",") if a}
    home = fresh_home()
    env = {"PLAYLISTS_RATE_LIMIT": "1000000/minute"}   # one user makes every good call: no rate limit in the way
    servers = {}
    try:
        for kind, module in (("rest", "rest"), ("soap", "soap"), ("grpc", "rpc")):
            servers[kind] = Server(module, home, env)
        credentials = json.loads((home / "credentials.json").read_text())
        print(f"soak: servers up on a fresh home {home}; {args.seconds:.0f} s of traffic from {args.concurrency} "
              "clients ...", flush=True)
        # Warm up (each server answers once), then read the memory the run starts from.
        for protocol in calls.PROTOCOLS:
            user = User(protocol, endpoints(servers), credentials, random.Random(0))
            user.call("who_am_i")
            user.close()
        used = {"before": memory(servers)}
        tally, threads = Tally(), []
        started = time.monotonic()
        deadline = started + args.seconds
        for index in range(args.concurrency):
            protocol = calls.PROTOCOLS[index % len(calls.PROTOCOLS)]
            hostile = index >= args.concurrency - args.hostile
            rng = random.Random(args.seed * 1000 + index)
            if hostile:
                client = Hostile(protocol, endpoints(servers), endpoints(servers, ATTACKER_ADDRESS), credentials, rng,
                                 only)
            else:
                client = User(protocol, endpoints(servers), credentials, rng)
            threads.append(threading.Thread(target=client_loop, args=(client, protocol, hostile, deadline, tally),
                                            daemon=True))
        for thread in threads:
            thread.start()
        # The first quarter (at most 15 s) warms the servers up: their memory from then on is what may leak.
        threads[0].join(timeout=min(15.0, args.seconds / 4))
        used["warmed up"] = memory(servers)
        for thread in threads:
            thread.join(timeout=args.seconds + calls.TIMEOUT + 30)
        elapsed = time.monotonic() - started
        extra = [f"a client thread never finished ({sum(t.is_alive() for t in threads)})"] if any(
            t.is_alive() for t in threads) else []
        used["after"] = memory(servers)
        for kind, server in servers.items():
            if server.process.poll() is not None:
                extra.append(f"the {kind} server died (exit {server.process.returncode})")
        with sqlite3.connect(home / "playlists.sqlite3", timeout=30) as db:
            integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            extra.append(f"integrity_check: {integrity}")
        logged = {kind: len(server.output()) for kind, server in servers.items()}
    finally:
        stopped = {kind: server.stop() for kind, server in servers.items()}
    for kind, server in servers.items():
        log = server.output()
        during, after = log[:logged.get(kind, len(log))].count(TRACEBACK), log[logged.get(kind, len(log)):].count(
            TRACEBACK)
        if during:
            extra.append(f"the {kind} server logged {during} tracebacks under traffic (log: {server.log_path})")
        if after or stopped[kind] != 0:
            extra.append(f"the {kind} server, stopped with SIGTERM, exited {stopped[kind]} and logged {after} "
                         f"tracebacks while stopping (log: {server.log_path})")
    unexpected = tally.total("unexpected") + len(extra)
    print(report.text(tally, args, {kind: server.port for kind, server in servers.items()}, used, extra, elapsed))
    if args.json:
        args.json.write_text(json.dumps(report.figures(tally, args, used, unexpected, elapsed), indent=2))
    if unexpected == 0 and not args.keep_home:
        shutil.rmtree(home, ignore_errors=True)
    else:
        print(f"soak: the home is kept for a look: {home}")
    print(f"soak: {'PASS' if unexpected == 0 else 'FAIL'}: {unexpected} unexpected errors")
    return 0 if unexpected == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
