"""Stream hogging: bob holds open every gRPC stream he may, then one that never speaks."""
import sys
import time

from playlist.v1 import playlist_pb2 as pb

from ..calls import from_grpc
from .common import exchange, load, run_one, say, title, verdict

TRIES = 4                       # streams bob asks for: the server's default pool is 4 threads
CHACONNES = ["bach-bwv1004-chaconne"] * 3   # 42 minutes of music: minutes of playback at the slowest pace


def run(targets, args):
    title("stream hogging", f"""
        Each open gRPC stream holds one of the server's few threads for as long as it lasts. Bob
        asks for {TRIES} PlayPlaylist streams at the slowest pace and reads none of them, hoping to
        take them all; then alice asks for one. Last, bob opens a MoodRadio and says nothing.""")
    bob, alice = (("x-api-key", load(user)["api_key"]) for user in ("bob", "alice"))
    stub = targets.stub()
    playlists = {who: stub.CreatePlaylist(pb.CreatePlaylistRequest(name="Long", track_ids=CHACONNES),
                                                  metadata=[who], timeout=30).id for who in (bob, alice)}
    streams = []
    try:
        for number in range(1, TRIES + 1):
            streams.append(play(stub, bob, playlists[bob]))
            exchange("grpc", f"PlayPlaylist, bob's stream {number}", "x-api-key: bob's", first(streams[-1]))
        streams.append(play(stub, alice, playlists[alice]))
        hers = first(streams[-1])
        exchange("grpc", "PlayPlaylist, alice's stream", "x-api-key: alice's", hers)
        for stream in streams:
            stream.cancel()
        radio = stub.MoodRadio(tune_in_then_say_nothing(), metadata=[bob], timeout=60)
        exchange("grpc", "MoodRadio, bob's: one mood", "x-api-key: bob's", first(radio))
        sent = time.monotonic()
        silence = first(radio)
        exchange("grpc", "… then silence", "", silence)
        say(f"(hung up on after {time.monotonic() - sent:.0f} s)")
    finally:
        for stream in streams:
            stream.cancel()
        for who, playlist_id in playlists.items():
            stub.DeletePlaylist(pb.DeletePlaylistRequest(id=playlist_id), metadata=[who], timeout=30)
    stopped = hers.kind == "ok" and silence.status == "DEADLINE_EXCEEDED"
    return verdict(stopped, "a stream cap per user, and an idle deadline",
                   "the server keeps one thread for calls, lets streams take the others but only one per user, "
                   "and ends a bidirectional stream whose client says nothing for 10 s: alice still gets hers")


def play(stub, who, playlist_id):
    return stub.PlayPlaylist(pb.PlayPlaylistRequest(id=playlist_id, ms_per_second=100), metadata=[who])


def first(stream):
    return from_grpc(lambda: next(stream))


def tune_in_then_say_nothing():
    yield pb.MoodRadioRequest(mood="calm")
    time.sleep(60)   # the call stays open, and silent


if __name__ == "__main__":
    sys.exit(run_one(sys.modules[__name__]))
