"""Class mode: one server for a room, a sandbox of two users per seat.

`python -m serve --class N` prepares $PLAYLISTS_HOME/class/ (here) and serves it:

    playlists.sqlite3, keys/, tls/   the servers' state, as in any home; tls/ holds the class CA
    trainer.json                     {"api_key": "…"}: the scoreboard, the live view, resets
    seatNN/                          a seat's own home: credentials.json, tls/, env.sh (its bundle)
    cards.html                       one printable card per seat

Preparing again keeps every secret already handed out, and a larger number adds seats.
"""
import argparse
import hashlib
import hmac
import html
import io
import json
import os
import secrets
import socket
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from .config import DEFAULT_PORTS, DEFENCES, TRAINER, WILDCARDS, host, load_settings, port
from .setup import make_database, make_keys, make_certificates, new_credentials, write_secret
from .storage import Database

ROOM = "class"
CARDS = "cards.html"
SEAT_USERS = ("alice", "bob")
# A seat code is read off a card and typed: no 0/O or 1/I to confuse. 8 of these 32 letters
# are 40 bits, far beyond what the per-address rate limit lets anyone try.
CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def seat_name(number: int) -> str:
    return f"seat{number:02d}"


def users_of(seat: str) -> tuple[str, ...]:
    return tuple(f"{seat}-{user}" for user in SEAT_USERS)


def room_host(host: str) -> str:
    """The name attendees use to reach `host`: the machine's name when it binds every interface."""
    return socket.gethostname() if host in WILDCARDS else host


def addresses(host: str, environ=os.environ) -> dict:
    """The six addresses of a card: the host attendees reach, and this run's ports (PLAYLISTS_*_PORT)."""
    name = f"[{host}]" if ":" in host else host
    rest, rest_tls, soap, soap_tls, grpc, grpc_tls = (port(p, environ) for p in DEFAULT_PORTS)
    return {"rest": f"http://{name}:{rest}", "rest_tls": f"https://{name}:{rest_tls}",
            "soap": f"http://{name}:{soap}/soap", "soap_tls": f"https://{name}:{soap_tls}/soap",
            "grpc": f"{name}:{grpc}", "grpc_tls": f"{name}:{grpc_tls}"}


def environment(servers: dict) -> dict:
    """The variables that point this repository's commands at the class's servers: the clients
    (clients/addresses.py) and the exercises' texts (config.moved) read them."""
    found = {"REST": servers["rest"], "REST_TLS": servers["rest_tls"], "SOAP": servers["soap"],
             "SOAP_TLS": servers["soap_tls"], "GRPC": "//" + servers["grpc"], "GRPC_TLS": "//" + servers["grpc_tls"]}
    parts = {name: urlsplit(address) for name, address in found.items()}
    return {"PLAYLISTS_HOST": parts["REST"].hostname,
            **{f"PLAYLISTS_{name}_PORT": str(part.port) for name, part in parts.items()}}


def hash_code(code: str) -> str:
    """Codes are compared as typed on any keyboard: case, spaces and dashes do not count."""
    return hashlib.sha256("".join(c for c in code.upper() if c.isalnum()).encode()).hexdigest()


def _new_code() -> str:
    letters = "".join(secrets.choice(CODE_LETTERS) for _ in range(8))
    return f"{letters[:4]}-{letters[4:]}"


def _write(path: Path, data: dict) -> None:
    """Replace a secret file whole: written aside with owner-only rights, then renamed over."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    write_secret(partial, json.dumps(data, indent=2).encode())
    os.replace(partial, path)


# --- preparing the room -------------------------------------------------------------------------

def prepare(home: Path, seats: int, bind: str) -> Path:
    """Make (or complete) the room under home/class for `seats` seats, served on `bind` with
    this run's ports; return its folder."""
    room = home / ROOM
    room.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = room_host(bind)
    servers = addresses(name)
    if not (room / TRAINER).exists():
        write_secret(room / TRAINER, json.dumps({"api_key": "tk_" + secrets.token_urlsafe(24)}).encode())
    everyone = {}
    for number in range(1, seats + 1):
        seat = seat_name(number)
        everyone[seat] = _prepare_seat(room / seat, seat, servers)
    make_keys(room / "keys")
    db = Database(room / "playlists.sqlite3")
    make_database(db, {"users": {user: secret for credentials in everyone.values()
                                 for user, secret in credentials["users"].items()}})
    with db.write() as conn:
        for seat, credentials in everyone.items():
            conn.execute("INSERT OR IGNORE INTO seats VALUES (?, ?)", (seat, hash_code(credentials["seat"]["code"])))
            conn.executemany("INSERT OR IGNORE INTO seat_users VALUES (?, ?)",
                             [(user, seat) for user in credentials["users"]])
    make_certificates(room / "tls", [user for seat in everyone for user in users_of(seat)], name)
    for seat in everyone:
        _copy_certificates(room / "tls", room / seat / "tls", users_of(seat))
    (room / CARDS).write_text(cards(everyone, servers))
    return room


def _prepare_seat(folder: Path, seat: str, servers: dict) -> dict:
    """The seat's credentials.json (its secrets kept when it exists, the addresses always
    current), and env.sh, which points the repository's commands at the class."""
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / "credentials.json"
    if path.exists():
        credentials = json.loads(path.read_text())
    else:
        credentials = {**new_credentials(users_of(seat)), "seat": {"name": seat, "code": _new_code()}}
    credentials["servers"] = servers
    _write(path, credentials)
    variables = " ".join(f"{name}={value}" for name, value in environment(servers).items())
    (folder / "env.sh").write_text(f"# source {seat}/env.sh: this folder is your PLAYLISTS_HOME, the class's "
                                   "servers are your servers\n"
                                   f'export PLAYLISTS_HOME="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)" '
                                   f"{variables}\n")
    return credentials


def _copy_certificates(source: Path, folder: Path, users) -> None:
    """The class CA's certificate, and the seat's own certificates and keys: nobody else's."""
    folder.mkdir(mode=0o700, exist_ok=True)
    for name in ("ca.pem", *(f"{user}.{ext}" for user in users for ext in ("pem", "key"))):
        if not (folder / name).exists():
            write_secret(folder / name, (source / name).read_bytes())


def bundle(room: Path, seat: str) -> bytes:
    """The seat's home as a zip: unpacked, it is a PLAYLISTS_HOME for the repository's clients."""
    folder = room / seat
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".partial")):
            entry = zipfile.ZipInfo(f"{seat}/{path.relative_to(folder)}")
            entry.external_attr = 0o600 << 16   # unzip restores owner-only rights on the keys
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())
    return buffer.getvalue()


# --- the cards ----------------------------------------------------------------------------------

CARD_STYLE = """body { font: 11pt system-ui, sans-serif; }
.card { border: 1px dashed #888; padding: 1em; margin: 0 0 1em; break-inside: avoid; page-break-inside: avoid; }
h2 { margin: 0 0 .3em; } code { font-size: 10pt; word-break: break-all; } td { padding: 0 .6em .2em 0; }"""


def cards(everyone: dict, servers: dict) -> str:
    """One card per seat: where the servers are, the seat code, both users' key and password, a first call."""
    e = html.escape
    out = [f"<!doctype html><meta charset=utf-8><title>Seat cards</title><style>{CARD_STYLE}</style>"]
    for seat, credentials in everyone.items():
        alice = users_of(seat)[0]
        rows = "".join(f"<tr><td>{e(user)}</td><td>API key <code>{e(secret['api_key'])}</code></td>"
                       f"<td>password <code>{e(secret['password'])}</code></td></tr>"
                       for user, secret in credentials["users"].items())
        first = f'curl {servers["rest"]}/v1/moods -H "X-API-Key: {credentials["users"][alice]["api_key"]}"'
        out.append(
            f"<section class=card><h2>{e(seat)} · seat code <code>{e(credentials['seat']['code'])}</code></h2>"
            f"<p>REST <code>{e(servers['rest'])}</code> · SOAP <code>{e(servers['soap'])}</code> · "
            f"gRPC <code>{e(servers['grpc'])}</code> (mutual TLS: <code>{e(servers['rest_tls'])}</code>, "
            f"<code>{e(servers['soap_tls'])}</code>, <code>{e(servers['grpc_tls'])}</code>)</p>"
            f"<table>{rows}</table>"
            f"<p>Your first call: <code>{e(first)}</code></p>"
            f"<p>With the repository: download your files from the workshop page, unzip them, "
            f"<code>source {e(seat)}/env.sh</code>, then in the repository "
            f"<code>.venv/bin/python -m clients.rest --user {e(alice)} whoami</code></p>"
            f"<p>Exercises and your files (the seat code signs you in): <code>{e(servers['rest'])}/workshop</code></p>"
            "</section>")
    return "\n".join(out) + "\n"


# --- the room at run time -----------------------------------------------------------------------

def seat_of(db: Database, user: str) -> str | None:
    with db.connection() as conn:
        row = conn.execute("SELECT seat FROM seat_users WHERE name = ?", (user,)).fetchone()
    return row["seat"] if row else None


def seat_by_code(db: Database, code: str) -> str | None:
    with db.connection() as conn:
        row = conn.execute("SELECT seat FROM seats WHERE code_hash = ?", (hash_code(code),)).fetchone()
    return row["seat"] if row else None


def seats(db: Database) -> list[str]:
    with db.connection() as conn:
        return [row["seat"] for row in conn.execute("SELECT seat FROM seats ORDER BY seat")]


def seat_credentials(room: Path, seat: str) -> dict:
    return json.loads((room / seat / "credentials.json").read_text())


def _trainer_key(room: Path) -> str:
    return json.loads((room / TRAINER).read_text())["api_key"]


def is_trainer(room: Path, key: str) -> bool:
    return bool(key) and hmac.compare_digest(key.encode(), _trainer_key(room).encode())


def viewer_key(room: Path) -> str:
    """A key for the live view alone, which the trainer may share (a projector, a co-trainer):
    derived from the trainer's key, so it opens nothing else, and changes with it."""
    return hmac.new(_trainer_key(room).encode(), b"live view", hashlib.sha256).hexdigest()[:32]


def may_watch(room: Path, key: str) -> bool:
    """The live view shows every seat's calls: the trainer's key or the viewer key opens it."""
    return is_trainer(room, key) or (bool(key) and hmac.compare_digest(key.encode(), viewer_key(room).encode()))


def switch(db: Database, seat: str, defence: str, enabled: bool) -> None:
    """Switch a defence on or off for one seat's users."""
    if defence not in DEFENCES:
        raise ValueError(defence)
    with db.write() as conn:
        if enabled:
            conn.execute("DELETE FROM seat_defences WHERE seat = ? AND defence = ?", (seat, defence))
        else:
            conn.execute("INSERT OR IGNORE INTO seat_defences VALUES (?, ?)", (seat, defence))


def main() -> None:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m core.classroom",
                                     description=__doc__.splitlines()[0],
                                     epilog="The ports on the cards are PLAYLISTS_REST_PORT … PLAYLISTS_GRPC_TLS_PORT.")
    parser.add_argument("seats", type=int, help="how many seats (a larger number than before adds seats)")
    parser.add_argument("--host", default=host(), help=f"the address the servers bind (default $PLAYLISTS_HOST or "
                                                       f"{host()}); a wildcard puts this machine's name on the cards")
    args = parser.parse_args()
    room = prepare(load_settings().home, args.seats, args.host)
    print(f"class: {room} ready for {args.seats} seats; print {room / CARDS}")


if __name__ == "__main__":
    main()
