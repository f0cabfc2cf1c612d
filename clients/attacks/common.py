"""What the attacks share: where the servers are, the call of any operation over any protocol
with any credential (clients/calls.py), and one way to show each exchange on a projector.

Like every client, this knows only the wire and the contracts.
"""
import argparse
import socket
import sys
import textwrap
import time
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

from .. import addresses, calls
from .. import credentials as creds
from ..calls import PROTOCOLS, Answer

NAMES = {"rest": "REST", "soap": "SOAP", "grpc": "gRPC"}
WIDTH = 100
COLUMN = 34   # the width of the request (and status) column


def shown(secret: str) -> str:
    return secret if len(secret) <= 12 else secret[:10] + "…"


def credential_text(protocol: str, credential) -> str:
    """How the credential travels, short enough for one line."""
    kind = credential[0] if credential else None
    if kind is None:
        return "(no credential)"
    if kind == "basic":
        pair = f"{credential[1]}:{credential[2]}"
        return {"rest": f"Authorization: Basic ‹{pair}›", "soap": f"<wsse:UsernameToken> ‹{pair}›",
                "grpc": f"authorization: Basic ‹{pair}›"}[protocol]
    value = shown(credential[1])
    if kind == "key":
        return {"rest": f"X-API-Key: {value}", "soap": f"<ApiKey>{value}</ApiKey>",
                "grpc": f"x-api-key: {value}"}[protocol]
    return {"rest": f"Authorization: Bearer {value}", "soap": f"<AccessToken>{value}</AccessToken>",
            "grpc": f"authorization: Bearer {value}"}[protocol]


class Targets(calls.Endpoints):
    """The three servers under attack."""

    def call(self, protocol: str, operation: str, credential=None, show: bool = True, **arguments) -> Answer:
        """Make one operation's call over one protocol; print what was sent and what came back."""
        answer = super().call(protocol, operation, credential, **arguments)
        if answer.status == "UNAVAILABLE":
            raise SystemExit(f"cannot reach the gRPC server: {answer.detail}")
        if show:
            spelled = calls.OPERATIONS[operation](**arguments)
            sent = {"rest": f"{spelled.rest.method} {spelled.rest.path}",
                    "soap": f"POST {urlsplit(self.soap_url).path}  {spelled.soap[0]}", "grpc": spelled.grpc[0]}
            exchange(protocol, sent[protocol], credential_text(protocol, credential), answer)
        return answer

    def listeners(self) -> list[tuple[str, int]]:
        rest, soap = urlsplit(self.rest_url), urlsplit(self.soap_url)
        grpc_host, _, grpc_port = self.grpc_address.rpartition(":")
        return [(rest.hostname, rest.port or 80), (soap.hostname, soap.port or 80), (grpc_host, int(grpc_port))]

    def listening(self) -> list[bool]:
        """Whether each of the three servers accepts a connection right now."""
        return [accepts(address) for address in self.listeners()]

    def wait_until_listening(self, seconds: float) -> None:
        """Wait until the three servers accept connections (after `make serve` starts them)."""
        deadline = time.monotonic() + seconds
        for address in self.listeners():
            while not accepts(address):
                if time.monotonic() > deadline:
                    raise SystemExit(f"attacks: nothing answers on {address[0]}:{address[1]}; "
                                     "is `make serve` running?")
                time.sleep(0.1)


def accepts(address: tuple[str, int]) -> bool:
    """Whether a server accepts a TCP connection at `address` right now."""
    try:
        socket.create_connection(address, timeout=1).close()
        return True
    except OSError:
        return False


def preflight(targets: "Targets") -> None:
    """Make sure the demo users may call at all: an address locked out by earlier failures, or a
    spent rate limit, would refuse every attack for reasons that have nothing to do with it."""
    for user in ("alice", "bob"):
        answer = targets.call("rest", "who_am_i", calls.key(load(user)["api_key"]), show=False)
        if answer.kind == "unauthenticated":
            raise SystemExit(f"attacks: the servers at {targets.rest_url} do not know {user}'s key from "
                             f"{creds.home() / 'credentials.json'}: they were started with another home; set "
                             "PLAYLISTS_HOME to theirs")
        if answer.kind != "ok":
            raise SystemExit(f"attacks: the servers refuse {user}'s own key right now ({answer.status}: "
                             f"{answer.said()}), because of earlier calls (an earlier run of the attacks?); wait, "
                             "or clear the counters: `.venv/bin/python -m workshop reset --yes`, or open an exercise")


def load(user: str) -> dict:
    """A demo user's secrets from $PLAYLISTS_HOME/credentials.json."""
    return creds.load(user)


# --- the command line every attack shares ------------------------------------------------------------

def parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--rest", default=addresses.rest_url(), help=f"REST base URL (default {addresses.rest_url()})")
    p.add_argument("--soap", default=addresses.soap_url(), help=f"SOAP endpoint (default {addresses.soap_url()})")
    p.add_argument("--grpc", default=addresses.grpc_address(),
                   help=f"gRPC address (default {addresses.grpc_address()})")
    p.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                   help="wait up to SECONDS for the servers to accept connections (default 0)")
    p.add_argument("--max-calls", type=int, default=2000,
                   help="flood: give up after this many calls (default 2000)")
    p.add_argument("--token-wait", type=float, default=30, metavar="SECONDS",
                   help="expired_token: wait at most SECONDS for the token to expire (default 30)")
    return p


def run_one(module, argv=None) -> int:
    """`python -m clients.attacks.NAME`: one attack, exit code 0 if it was stopped."""
    args = parser(f".venv/bin/python -m clients.attacks.{module.__spec__.name.rpartition('.')[2]}",
                  module.__doc__.splitlines()[0]).parse_args(argv)
    targets = Targets(args.rest, args.soap, args.grpc)
    targets.wait_until_listening(args.wait)
    preflight(targets)
    return 0 if module.run(targets, args).stopped else 1


# --- showing it ---------------------------------------------------------------------------------------

COLOURS = {"STOPPED": "\033[32m", "GOT THROUGH": "\033[31m", "NOT SHOWN": "\033[33m"}


@dataclass(frozen=True)
class Verdict:
    stopped: bool
    defence: str     # a few words for the summary: the defence (or, NOT SHOWN, why not)
    word: str        # STOPPED, GOT THROUGH or NOT SHOWN


def title(name: str, story: str) -> None:
    print(f"\n━━ {name} {'━' * (WIDTH - len(name) - 4)}")
    for line in story.strip().splitlines():
        print(f"   {line.strip()}")
    print()


def say(text: str = "") -> None:
    print(f"   {text}" if text else "")


def exchange(protocol: str, request: str, credential: str, answer: Answer) -> None:
    """One request and its answer, in lines whose columns line up."""
    sent(protocol, request, credential)
    answered(answer)


def sent(protocol: str, request: str, credential: str = "") -> None:
    print(clip(f"   {NAMES[protocol]:<4} → {request:<{COLUMN}} {credential}"))


def answered(answer: Answer) -> None:
    """A refusal's reason is wrapped, never cut; a success's data is only glimpsed."""
    said = answer.said()
    lines = textwrap.wrap(said, WIDTH - COLUMN - 12) if answer.kind != "ok" else [said]
    status = f"{answer.status} {HTTPStatus(int(answer.status)).phrase}" if answer.status.isdigit() else answer.status
    print(clip(f"   {'':<4} ← {status:<{COLUMN}} {lines[0] if lines else ''}"))
    for line in lines[1:]:
        print(f"   {'':<4}   {'':<{COLUMN}} {line}")


def clip(line: str) -> str:
    return line if len(line) <= WIDTH else line[:WIDTH - 1] + "…"


def verdict(stopped: bool, defence: str, why: str, word: str | None = None) -> Verdict:
    """The attack's last lines: STOPPED and how `defence` stopped it (`why`), or GOT THROUGH."""
    word = word or ("STOPPED" if stopped else "GOT THROUGH")
    if word == "GOT THROUGH":
        why = f"{defence} did not stop it, as the answers above show (switched off with PLAYLISTS_UNSAFE?)"
    coloured = f"{COLOURS[word]}{word}\033[0m" if sys.stdout.isatty() else word
    lines = textwrap.wrap(why, WIDTH - 17)
    print(f"\n   {coloured}{' ' * (12 - len(word))}  {lines[0]}")
    for line in lines[1:]:
        print(f"   {'':<12}  {line}")
    return Verdict(stopped, defence, word)
