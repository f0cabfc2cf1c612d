"""Exercise 8, one token, another protocol: an OAuth token from the REST server, used over gRPC.

From the repository's root, with `make serve` running:
    .venv/bin/python workshop/solutions/08_token_on_grpc.py
"""
import json
import os

import grpc
import requests
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc

HOST = os.environ.get("PLAYLISTS_HOST", "127.0.0.1")   # where `make serve` listens
REST = os.environ.get("REST", f"http://{HOST}:{os.environ.get('PLAYLISTS_REST_PORT', '8080')}")
GRPC = os.environ.get("GRPC", f"{HOST}:{os.environ.get('PLAYLISTS_GRPC_PORT', '50051')}")
CREDENTIALS = os.path.join(os.environ.get("PLAYLISTS_HOME", ".demo"), "credentials.json")
alice = json.load(open(CREDENTIALS))["users"]["alice"]

# OAuth 2.0 client credentials (RFC 6749 §4.4): the client's id and secret buy a token.
answer = requests.post(f"{REST}/oauth/token", auth=(alice["client_id"], alice["client_secret"]),
                       data={"grant_type": "client_credentials"})
answer.raise_for_status()
token = answer.json()["access_token"]

# gRPC metadata is HTTP/2 headers: lower-case keys, the same "Bearer" scheme as HTTP.
stub = playlist_pb2_grpc.PlaylistsStub(grpc.insecure_channel(GRPC))
me = stub.WhoAmI(pb.WhoAmIRequest(), metadata=[("authorization", f"Bearer {token}")])
print(me.name, me.auth_method, list(me.scopes))
