"""`python -m workshop --server URL …`: the same commands, against a class's server, as a seat.

Run it with the seat's home (the bundle from the landing page) as PLAYLISTS_HOME: its
credentials.json holds the seat's users, and the first one's API key signs every call. The
exercises, the hints shown and the checks are the server's (the workshop API); nothing is
kept on this machine.
"""
import json
import os
from pathlib import Path

import requests

from .exercises import Exercise
from .terminal import print_hint, print_list, print_show, print_status, wrap


class Remote:
    def __init__(self, url: str):
        home = Path(os.environ.get("PLAYLISTS_HOME", ".demo"))
        path = home / "credentials.json"
        if not path.exists():
            raise SystemExit(f"no {path}: set PLAYLISTS_HOME to your seat's folder (the bundle, unzipped)")
        users = json.loads(path.read_text())["users"]
        self.user = next(iter(users))
        self.url = url.rstrip("/")
        self.prog = f".venv/bin/python -m workshop --server {self.url}"
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = users[self.user]["api_key"]

    def call(self, method: str, path: str, **body) -> dict:
        try:
            response = self.session.request(method, self.url + path, json=body or None, timeout=60)
        except requests.RequestException as error:
            raise SystemExit(f"workshop: cannot reach {self.url} ({error.__class__.__name__})")
        if response.status_code >= 400:
            problem = response.json() if "json" in response.headers.get("Content-Type", "") else {}
            raise SystemExit(f"workshop: {response.status_code} {problem.get('detail', response.reason)}")
        return response.json()

    def exercises(self) -> list[dict]:
        return self.call("GET", "/v1/workshop/exercises")["items"]

    def action(self, exercise: Exercise, name: str) -> dict:
        return self.call("POST", f"/v1/workshop/exercises/{exercise.number}:{name}")


def show_list(remote: Remote, args) -> int:
    print_list(remote.exercises(), remote.prog)
    return 0


def show(remote: Remote, args) -> int:
    print_show(remote.action(args.exercise, "start"), remote.prog)
    return 0


def hint(remote: Remote, args) -> int:
    e = args.exercise
    if len(remote.action(e, "start")["hints"]) >= len(e.hints):
        print(f"No more hints for exercise {e.number}. The solution is {e.run}")
        return 0
    print_hint(remote.action(e, "hint"))
    return 0


def check(remote: Remote, args) -> int:
    result = remote.action(args.exercise, "check")
    mark = f"✓ Exercise {args.exercise.number} solved." if result["solved"] else "✗ Not yet."
    print(wrap(f"{mark} {result['message']}"))
    return 0 if result["solved"] else 1


def status(remote: Remote, args) -> int:
    print_status(remote.exercises())
    return 0


def defence(remote: Remote, args) -> int:
    states = remote.call("PUT", f"/v1/workshop/defences/{args.defence}", enabled=args.state == "on")
    print(", ".join(f"{name} {'on' if on else 'OFF'}" for name, on in states.items())
          + f": for your seat's two users only ({remote.user.rsplit('-', 1)[0]})")
    return 0


COMMANDS = {"list": show_list, "show": show, "hint": hint, "check": check, "status": status, "defence": defence}


def run(url: str, args) -> int:
    command = COMMANDS.get(args.command or "list")
    if command is None:
        raise SystemExit(f"workshop: {args.command} is the trainer's, on the class's /class page")
    return command(Remote(url), args)
