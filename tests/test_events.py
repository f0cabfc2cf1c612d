"""Call events: each protocol records a call from its own hook, and core/events.py builds the
event, so the same calls journal the same way whichever protocol carried them."""
import time

import grpc
import pytest
import requests
from playlist.v1 import playlist_pb2 as pb

from clients.soap import SoapClient
from core import events

EXPECTED = [("who_am_i", "alice", "api_key", "ok", 0),
            ("update_playlist", "alice", "api_key", "version_required", 2),
            ("who_am_i", "", "", "unauthenticated", 2)]


def journalled(home, since, protocol):
    return [(e["operation"], e["user"], e["auth_method"], e["outcome"], e["stopped_at"])
            for e in events.read(home, since) if e["protocol"] == protocol]


def test_the_same_calls_are_the_same_events_on_all_three(home, rest_server, soap_server, stub, credentials):
    key = credentials["users"]["alice"]["api_key"]
    rest = f"http://127.0.0.1:{rest_server.port}"
    playlist_id = requests.post(f"{rest}/v1/playlists", json={"name": "Journalled"}, headers={"X-API-Key": key},
                                timeout=10).json()["id"]
    since = time.time()

    requests.get(f"{rest}/v1/me", headers={"X-API-Key": key}, timeout=10)
    requests.patch(f"{rest}/v1/playlists/{playlist_id}", json={"name": "Blind"}, headers={"X-API-Key": key},
                   timeout=10)
    requests.get(f"{rest}/v1/me", timeout=10)

    url = f"http://127.0.0.1:{soap_server.port}/soap"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLAYLISTS_HOME", str(home))   # where the SOAP client finds alice's secrets
        soap, anonymous = SoapClient(url, "key", "alice"), SoapClient(url, "mtls", "alice")
    anonymous.url = url   # a client certificate, sent to the plain port: no credential at all
    soap.who_am_i()
    soap.call("UpdatePlaylist", playlist_id=playlist_id, name="Blind")
    anonymous.who_am_i()

    alice = [("x-api-key", key)]
    stub.WhoAmI(pb.WhoAmIRequest(), metadata=alice)
    with pytest.raises(grpc.RpcError):
        stub.UpdatePlaylist(pb.UpdatePlaylistRequest(id=playlist_id, name="Blind"), metadata=alice)
    with pytest.raises(grpc.RpcError):
        stub.WhoAmI(pb.WhoAmIRequest())

    # A successful read is journalled in the next batch, a few milliseconds after its answer.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(len(journalled(home, since, p)) < len(EXPECTED)
                                              for p in ("rest", "soap", "grpc")):
        time.sleep(0.05)
    for protocol in ("rest", "soap", "grpc"):
        assert journalled(home, since, protocol) == EXPECTED, protocol
