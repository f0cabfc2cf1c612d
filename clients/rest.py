"""`python -m clients.rest`: the REST API from the command line, with requests.

Each function is one operation, named as in the core, SOAP and the proto; copy any of
them into your own program. `--show-wire` prints the HTTP bytes that really crossed.
"""
import argparse
import json
import sys

import requests

from . import credentials as creds
from .wire import Tap, show, tapped_session


class RestClient:
    def __init__(self, url: str = "http://127.0.0.1:8080", auth: str = "key", user: str = "alice",
                 tap: Tap | None = None):
        secrets = creds.load(user)
        self.url = url.rstrip("/")
        self.session = tapped_session(tap) if tap else requests.Session()
        # Otherwise requests lets REQUESTS_CA_BUNDLE (and proxy variables) override our settings.
        self.session.trust_env = False
        self.session.headers["Accept"] = "application/json"
        if auth == "key":
            self.session.headers["X-API-Key"] = secrets["api_key"]
        elif auth == "basic":
            self.session.auth = (user, secrets["password"])
        elif auth == "token":
            self.session.headers["Authorization"] = "Bearer " + self.token(secrets["client_id"], secrets["client_secret"])
        elif auth == "mtls":
            # The certificate proves who we are; the CA file proves who the server is.
            self.url = self.url.replace("http://", "https://").replace(":8080", ":8443")
            self.session.cert = (secrets["cert"], secrets["key"])
            self.session.verify = secrets["ca"]

    def token(self, client_id: str, client_secret: str, scope: str = "") -> str:
        """OAuth 2.0 client credentials: trade the client's id and secret for a bearer token."""
        response = self.session.post(f"{self.url}/oauth/token", auth=(client_id, client_secret),
                                 data={"grant_type": "client_credentials", **({"scope": scope} if scope else {})})
        response.raise_for_status()
        return response.json()["access_token"]

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.url + path, **kwargs)

    def who_am_i(self):
        return self.call("GET", "/v1/me")

    def list_moods(self):
        return self.call("GET", "/v1/moods")

    def search_tracks(self, mood=None, composer=None, era=None, text=None, page_size=None, page_token=None):
        params = {"mood": mood, "composer": composer, "era": era, "text": text,
                  "page_size": page_size, "page_token": page_token}
        return self.call("GET", "/v1/tracks", params={k: v for k, v in params.items() if v is not None})

    def get_track(self, track_id):
        return self.call("GET", f"/v1/tracks/{track_id}")

    def create_playlist(self, name, mood=None, track_ids=None):
        body = {"name": name, "mood": mood, "track_ids": track_ids}
        return self.call("POST", "/v1/playlists", json={k: v for k, v in body.items() if v is not None})

    def generate_playlist(self, mood, duration_minutes, name=None):
        body = {"mood": mood, "duration_minutes": duration_minutes, **({"name": name} if name else {})}
        return self.call("POST", "/v1/playlists:generate", json=body)

    def get_playlist(self, playlist_id):
        return self.call("GET", f"/v1/playlists/{playlist_id}")

    def list_playlists(self, page_size=None, page_token=None):
        params = {"page_size": page_size, "page_token": page_token}
        return self.call("GET", "/v1/playlists", params={k: v for k, v in params.items() if v is not None})

    def update_playlist(self, playlist_id, version, name=None, mood=None, track_ids=None):
        body = {k: v for k, v in {"name": name, "mood": mood, "track_ids": track_ids}.items() if v is not None}
        # If-Match makes the update conditional: a stale version gets 412, nothing is overwritten.
        return self.call("PATCH", f"/v1/playlists/{playlist_id}", json=body, headers={"If-Match": f'"{version}"'})

    def add_track(self, playlist_id, track_id, position=None):
        body = {"track_id": track_id, **({"position": position} if position else {})}
        return self.call("POST", f"/v1/playlists/{playlist_id}/tracks", json=body)

    def remove_track(self, playlist_id, position):
        return self.call("DELETE", f"/v1/playlists/{playlist_id}/tracks/{position}")

    def delete_playlist(self, playlist_id):
        return self.call("DELETE", f"/v1/playlists/{playlist_id}")

    def echo(self, body=None):
        return self.call("POST", "/v1/echo", json=body if body is not None else {"hello": "endpoint"})


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m clients.rest", description="Call the REST API.")
    p.add_argument("--url", default="http://127.0.0.1:8080", help="server (default http://127.0.0.1:8080)")
    p.add_argument("--auth", choices=creds.AUTH_METHODS, default="key", help="how to authenticate (default key)")
    p.add_argument("--user", default="alice", help="whose credentials (default alice)")
    p.add_argument("--show-wire", action="store_true", help="print the HTTP bytes sent and received")
    ops = p.add_subparsers(dest="operation", required=True, metavar="OPERATION")
    ops.add_parser("who-am-i", aliases=["whoami"], help="who the server thinks you are")
    ops.add_parser("list-moods", aliases=["moods"], help="the mood vocabulary")
    search = ops.add_parser("search-tracks", aliases=["search"], help="search the catalog")
    for flag in ("--mood", "--composer", "--era", "--text", "--page-token"):
        search.add_argument(flag)
    search.add_argument("--page-size", type=int)
    ops.add_parser("get-track", aliases=["track"], help="one track").add_argument("track_id")
    create = ops.add_parser("create-playlist", aliases=["create"], help="create a playlist")
    create.add_argument("name")
    create.add_argument("--mood")
    create.add_argument("--track", dest="track_ids", action="append", help="a track id (repeatable)")
    generate = ops.add_parser("generate-playlist", aliases=["generate"], help="a playlist for a mood and a length")
    generate.add_argument("mood")
    generate.add_argument("duration_minutes", type=int)
    generate.add_argument("--name")
    ops.add_parser("get-playlist", aliases=["get"], help="one of your playlists").add_argument("playlist_id")
    listing = ops.add_parser("list-playlists", aliases=["list"], help="your playlists")
    listing.add_argument("--page-size", type=int)
    listing.add_argument("--page-token")
    update = ops.add_parser("update-playlist", aliases=["update"], help="rename, change mood, replace tracks")
    update.add_argument("playlist_id")
    update.add_argument("--version", type=int, required=True, help="the version you read (If-Match)")
    update.add_argument("--name")
    update.add_argument("--mood")
    update.add_argument("--track", dest="track_ids", action="append", help="the new track list (repeatable)")
    add = ops.add_parser("add-track", aliases=["add"], help="add a track")
    add.add_argument("playlist_id")
    add.add_argument("track_id")
    add.add_argument("--position", type=int, help="1-based; default: at the end")
    remove = ops.add_parser("remove-track", aliases=["remove"], help="remove the track at a position")
    remove.add_argument("playlist_id")
    remove.add_argument("position", type=int)
    ops.add_parser("delete-playlist", aliases=["delete"], help="delete a playlist").add_argument("playlist_id")
    ops.add_parser("echo", help="what the server received").add_argument("--body", type=json.loads, help="JSON")
    return p


ALIASES = {"whoami": "who-am-i", "moods": "list-moods", "search": "search-tracks", "track": "get-track",
           "create": "create-playlist", "generate": "generate-playlist", "get": "get-playlist",
           "list": "list-playlists", "update": "update-playlist", "add": "add-track", "remove": "remove-track",
           "delete": "delete-playlist"}
GLOBAL = {"url", "auth", "user", "show_wire", "operation"}


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    tap = Tap()
    try:
        client = RestClient(args.url, args.auth, args.user, tap)
    except requests.RequestException as error:
        raise SystemExit(f"cannot get a token from {args.url}: {error.__class__.__name__}")
    tap.clear()   # the token request (--auth token) is not part of the call shown
    operation = ALIASES.get(args.operation, args.operation).replace("-", "_")
    try:
        response = getattr(client, operation)(**{k: v for k, v in vars(args).items() if k not in GLOBAL})
    except requests.ConnectionError as error:
        raise SystemExit(f"cannot reach {client.url}: {error.__class__.__name__} (is `make serve` running?)")
    if args.show_wire:
        show(tap, sys.stdout)
    else:
        print(response.text if response.content else f"{response.status_code} {response.reason}")
    return 0 if response.ok else 1


if __name__ == "__main__":
    sys.exit(main())
