"""`.venv/bin/python -m clients.rest`: the REST API from the command line, with requests.

Each function is one operation, named as in the core, SOAP and the proto; copy any of
them into your own program. `--show-wire` prints the HTTP bytes that really crossed.
"""
import sys

import requests

from . import addresses, calls, cli
from . import credentials as creds
from .wire import Tap, show, tapped_session


class RestClient:
    def __init__(self, url: str | None = None, auth: str = "key", user: str = "alice", tap: Tap | None = None):
        secrets = creds.load(user)
        # A client certificate is presented on the TLS port only.
        self.url = (url or addresses.rest_url(tls=auth == "mtls")).rstrip("/")
        self.session = tapped_session(tap) if tap else requests.Session()
        # Otherwise requests lets REQUESTS_CA_BUNDLE (and proxy variables) override our settings.
        self.session.trust_env = False
        self.session.headers["Accept"] = "application/json"
        # X-API-Key or Authorization: Basic|Bearer (see clients/calls.py, beside the other protocols').
        self.session.headers.update(calls.http_headers(creds.credential(
            auth, user, secrets, lambda: self.token(secrets["client_id"], secrets["client_secret"]))))
        if auth == "mtls":
            # The certificate proves who we are; the CA file proves who the server is.
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

    def echo(self, message="hello, endpoint"):
        return self.call("POST", "/v1/echo", json={"message": message})


def main(argv=None) -> int:
    p, _ = cli.parser(".venv/bin/python -m clients.rest", "Call the REST API.",
                      f"base URL (default {addresses.rest_url()}, with --auth mtls {addresses.rest_url(tls=True)}; "
                      "set by PLAYLISTS_HOST, PLAYLISTS_REST_PORT and PLAYLISTS_REST_TLS_PORT)")
    args = p.parse_args(argv)
    tap = Tap()
    try:
        client = RestClient(args.server, args.auth, args.user, tap)
        tap.clear()   # the token request of --auth token is not part of the call shown
        response = cli.call(client, args)
    except requests.ConnectionError as error:
        raise SystemExit(f"cannot reach the REST server: {error.__class__.__name__} (is `make serve` running?)")
    if args.show_wire:
        show(tap, sys.stdout)
    else:
        print(f"{response.status_code} {response.reason}")
        if response.content:
            print(response.text.rstrip())
    return 0 if response.ok else 1


if __name__ == "__main__":
    sys.exit(main())
