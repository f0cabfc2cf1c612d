"""Call events: each protocol records a call from its own hook, and core/events.py builds the
event, so the same calls journal the same way whichever protocol carried them."""
import time

from clients import calls
from core import events

from .conftest import endpoints

EXPECTED = [("who_am_i", "alice", "api_key", "ok", 0),
            ("update_playlist", "alice", "api_key", "version_required", 2),
            ("who_am_i", "", "", "unauthenticated", 2)]


def test_the_same_calls_are_the_same_events_on_all_three(home, rest_server, soap_server, rpc_server, credentials):
    servers = endpoints({"rest": rest_server, "soap": soap_server, "grpc": rpc_server})
    alice = calls.key(credentials["users"]["alice"]["api_key"])
    playlist_id = servers.call("rest", "create_playlist", alice, name="Journalled").playlist_id()
    since = time.time()
    for protocol in calls.PROTOCOLS:
        servers.call(protocol, "who_am_i", alice)
        servers.call(protocol, "update_playlist", alice, playlist_id=playlist_id, version=None, name="Blind")
        servers.call(protocol, "who_am_i")
    servers.close()
    for protocol in calls.PROTOCOLS:
        journalled = [(e["operation"], e["user"], e["auth_method"], e["outcome"], e["stopped_at"])
                      for e in events.read(home, since) if e["protocol"] == protocol]
        assert journalled == EXPECTED, protocol
