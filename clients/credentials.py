"""Where the clients find the demo secrets: $PLAYLISTS_HOME/credentials.json (made by `make setup`)."""
import json
import os
from pathlib import Path

import requests

from . import calls

AUTH_METHODS = ("key", "basic", "token", "mtls")


def home() -> Path:
    return Path(os.environ.get("PLAYLISTS_HOME", ".demo")).resolve()


def load(user: str) -> dict:
    """The user's secrets, plus absolute paths of the CA and of their client certificate."""
    path = home() / "credentials.json"
    if not path.exists():
        raise SystemExit(f"no {path}: run `make setup` first")
    everything = json.loads(path.read_text())
    if user not in everything["users"]:
        raise SystemExit(f"no user {user!r} in {path}")
    tls = everything["tls"]
    return {**everything["users"][user], "ca": str(home() / tls["ca"]),
            "cert": str(home() / tls["clients"][user]["cert"]), "key": str(home() / tls["clients"][user]["key"])}


def credential(auth: str, user: str, secrets: dict, fetch_token):
    """An --auth choice as a clients/calls.py credential; `fetch_token()` is asked only for "token".
    None for mtls: the TLS handshake carries the client certificate."""
    if auth == "key":
        return calls.key(secrets["api_key"])
    if auth == "basic":
        return calls.basic(user, secrets["password"])
    if auth == "token":
        return calls.bearer(fetch_token())
    return None


def fetch_token(token_url: str, secrets: dict, session=requests) -> str:
    """OAuth 2.0 client credentials (RFC 6749 §4.4), from the REST server: the token works on all
    three protocols."""
    response = session.post(token_url, auth=(secrets["client_id"], secrets["client_secret"]),
                            data={"grant_type": "client_credentials"})
    response.raise_for_status()
    return response.json()["access_token"]
