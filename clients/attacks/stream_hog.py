"""Stream hogging: bob holds open every gRPC stream he may, then one that never speaks."""
import sys
import time

from playlist.v1 import playlist_pb2 as pb

from ..calls import from_grpc, grpc_metadata, key
from .common import credential_text, exchange, load, run_one, say, title, verdict

TRIES = 4                       # streams bob asks for, on one channel: a process has 4 threads
CHACONNES = ["bach-bwv1004-chaconne"] * 3   # 42 minutes of music: minutes of playback at the slowest pace


def run(targets, args):
    title("stream hogging", f"""
        Each open gRPC stream holds one of the server's few threads for as long as it lasts. Bob
        asks for {TRIES} PlayPlaylist streams at the slowest pace and reads none of them, hoping to
        take them all; then alice asks for one. Last, bob opens a MoodRadio and says nothing.""")
    bobs_key, alices_key = (key(load(user)["api_key"]) for user in ("bob", "alice"))
    bob, alice = (tuple(grpc_metadata(credential)) for credential in (bobs_key, alices_key))
    stub = targets.stub()
    playlists = {who: stub.CreatePlaylist(pb.CreatePlaylistRequest(name="Long", track_ids=CHACONNES), metadata=who,
                                          timeout=30).id for who in (bob, alice)}
    streams = []
    try:
        for number in range(1, TRIES + 1):
            streams.append(play(stub, bob, playlists[bob]))
            exchange("grpc", f"PlayPlaylist, bob's stream {number}", credential_text("grpc", bobs_key),
                     first(streams[-1]))
        streams.append(play(stub, alice, playlists[alice]))
        hers = first(streams[-1])
        exchange("grpc", "PlayPlaylist, alice's stream", credential_text("grpc", alices_key), hers)
        for stream in streams:
            stream.cancel()
        for _ in range(50):   # the server gives bob's slot back a moment after his cancel
            radio = stub.MoodRadio(tune_in_then_say_nothing(), metadata=bob, timeout=60)
            tuned = first(radio)
            if tuned.status != "RESOURCE_EXHAUSTED":
                break
            time.sleep(0.1)
        exchange("grpc", "MoodRadio, bob's: one mood", credential_text("grpc", bobs_key), tuned)
        sent = time.monotonic()
        silence = first(radio)
        exchange("grpc", "… then silence", "", silence)
        say(f"(hung up on after {time.monotonic() - sent:.0f} s)")
    finally:
        for stream in streams:
            stream.cancel()
        for who, playlist_id in playlists.items():
            stub.DeletePlaylist(pb.DeletePlaylistRequest(id=playlist_id), metadata=who, timeout=30)
    stopped = hers.kind == "ok" and silence.status == "DEADLINE_EXCEEDED"
    return verdict(stopped, "a stream cap per user, and an idle deadline",
                   "the server keeps one thread for calls, lets streams take the others but only one per user, "
                   "and ends a bidirectional stream whose client says nothing for 10 s: alice still gets hers")


def play(stub, who, playlist_id):
    return stub.PlayPlaylist(pb.PlayPlaylistRequest(id=playlist_id, ms_per_second=100), metadata=who)


def first(stream):
    return from_grpc(lambda: next(stream))


def tune_in_then_say_nothing():
    yield pb.MoodRadioRequest(mood="calm")
    time.sleep(60)   # the call stays open, and silent


if __name__ == "__main__":
    sys.exit(run_one(sys.modules[__name__]))
