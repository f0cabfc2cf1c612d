"""The two streams: PlayPlaylist (server streaming) and MoodRadio (bidirectional), including
cancellation and deadlines, after which the server must be free to serve again at once."""
import queue
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc

from core import events, limits

from .conftest import eventually

STREAMS = limits.STREAMS_PER_USER   # the streams alice may hold at once (rpc/server.py)

CODE = grpc.StatusCode


@pytest.fixture(scope="module")
def stub(rpc_server):
    with grpc.insecure_channel(f"127.0.0.1:{rpc_server.port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield playlist_pb2_grpc.PlaylistsStub(channel)


@pytest.fixture(scope="module")
def alice(credentials):
    return [("x-api-key", credentials["users"]["alice"]["api_key"])]


@pytest.fixture(scope="module")
def long_playlist(stub, alice):
    """Three Chaconnes, 42 minutes of music: over four minutes of playback even at the slowest pace."""
    return stub.CreatePlaylist(pb.CreatePlaylistRequest(name="Long", track_ids=["bach-bwv1004-chaconne"] * 3),
                               metadata=alice)


def status_of(stream) -> grpc.StatusCode:
    """Read a stream to its end; the status it ended with."""
    try:
        for _ in stream:
            pass
    except grpc.RpcError as error:
        return error.code()
    return CODE.OK


def the_server_is_free(stub, alice) -> bool:
    """Every worker thread is free again: were one still busy with a stream, this call would queue."""
    return stub.WhoAmI(pb.WhoAmIRequest(), metadata=alice, timeout=2).name == "alice"


def recorded(home, operation: str, statuses: set, count: int, since: float, timeout: float = 10) -> bool:
    """Wait until the server has journalled `count` calls of `operation` ending in one of `statuses`."""
    return eventually(lambda: count <= sum(1 for e in events.read(home, since) if e["protocol"] == "grpc"
                                           and e["operation"] == operation and e["status"] in statuses), timeout)


# --- PlayPlaylist: server streaming -------------------------------------------------------------

def test_play_playlist_sends_each_track_as_it_starts(stub, alice, home):
    playlist = stub.CreatePlaylist(pb.CreatePlaylistRequest(
        name="Short", track_ids=["bach-bwv1067-badinerie", "bach-bwv1068-air", "bach-bwv1047-3"]), metadata=alice)
    request = pb.PlayPlaylistRequest(id=playlist.id, ms_per_second=1)
    since, started = time.time(), time.monotonic()
    played = list(stub.PlayPlaylist(request, metadata=alice))
    took = time.monotonic() - started
    assert [(m.position, m.of, m.elapsed_seconds) for m in played] == [(1, 3, 0), (2, 3, 90), (3, 3, 390)]
    assert [m.track for m in played] == list(playlist.tracks)
    assert took >= playlist.total_duration_seconds / 1000  # it waited for each track, at 1 ms per second
    assert recorded(home, "play_playlist", {"OK"}, 1, since)  # a read's line joins the journal's next batch
    [record] = [e for e in events.read(home, since) if e["operation"] == "play_playlist"]
    assert (record["status"], record["bytes_in"], record["bytes_out"]) == (
        "OK", request.ByteSize(), sum(m.ByteSize() for m in played))


def test_cancelling_mid_stream_stops_the_playback_at_once(stub, alice, long_playlist, home):
    since = time.time()
    calls = [stub.PlayPlaylist(pb.PlayPlaylistRequest(id=long_playlist.id, ms_per_second=100), metadata=alice)
             for _ in range(STREAMS)]
    assert [next(call).position for call in calls] == [1] * STREAMS  # every stream alice may open is playing
    for call in calls:
        call.cancel()
    assert [status_of(call) for call in calls] == [CODE.CANCELLED] * STREAMS
    assert the_server_is_free(stub, alice)
    assert recorded(home, "play_playlist", {"CANCELLED"}, STREAMS, since)


def test_a_deadline_shorter_than_the_playback_ends_it(stub, alice, long_playlist, home):
    since = time.time()
    calls = [stub.PlayPlaylist(pb.PlayPlaylistRequest(id=long_playlist.id, ms_per_second=100), metadata=alice,
                               timeout=0.5) for _ in range(STREAMS)]
    assert [status_of(call) for call in calls] == [CODE.DEADLINE_EXCEEDED] * STREAMS
    assert the_server_is_free(stub, alice)
    assert recorded(home, "play_playlist", {"DEADLINE_EXCEEDED"}, STREAMS, since)


@pytest.mark.parametrize("request_, code, field", [
    (pb.PlayPlaylistRequest(id="pl_nope"), CODE.NOT_FOUND, None),
    (pb.PlayPlaylistRequest(), CODE.INVALID_ARGUMENT, "id"),
    (pb.PlayPlaylistRequest(id="{long}", ms_per_second=-1), CODE.INVALID_ARGUMENT, "ms_per_second"),
    (pb.PlayPlaylistRequest(id="{long}", ms_per_second=101), CODE.INVALID_ARGUMENT, "ms_per_second"),
])
def test_play_playlist_refuses_bad_requests_before_the_first_track(stub, alice, long_playlist, request_, code, field):
    request_.id = request_.id.replace("{long}", long_playlist.id)
    stream = stub.PlayPlaylist(request_, metadata=alice)
    with pytest.raises(grpc.RpcError) as caught:
        next(stream)
    assert caught.value.code() == code
    if field:
        violations = error_details_pb2.BadRequest()
        rpc_status.from_call(caught.value).details[0].Unpack(violations)
        assert [v.field for v in violations.field_violations] == [field]


def test_bob_cannot_play_alices_playlist(stub, long_playlist, credentials):
    bob = [("x-api-key", credentials["users"]["bob"]["api_key"])]
    assert status_of(stub.PlayPlaylist(pb.PlayPlaylistRequest(id=long_playlist.id), metadata=bob)) == CODE.NOT_FOUND


# --- MoodRadio: bidirectional streaming -----------------------------------------------------------

class Radio:
    """One MoodRadio call, driven a message at a time: send a mood, read its answer."""

    def __init__(self, stub, metadata):
        self.requests = queue.Queue()
        # The stub reads requests from this iterator on its own thread, as they are queued.
        self.call = stub.MoodRadio(iter(self.requests.get, None), metadata=metadata, timeout=30)

    def tune(self, mood: str) -> pb.MoodRadioResponse:
        self.requests.put(pb.MoodRadioRequest(mood=mood))
        return next(self.call)

    def close(self) -> grpc.StatusCode:
        self.requests.put(None)
        return status_of(self.call)


def test_the_radio_plays_every_track_of_a_mood_once(stub, alice):
    catalog = stub.SearchTracks(pb.SearchTracksRequest(mood="triumphant", page_size=50), metadata=alice)
    assert not catalog.next_page_token
    radio, played = Radio(stub, alice), []
    while True:
        answer = radio.tune("triumphant")
        if not answer.tracks:  # the mood has run out
            break
        assert answer.mood == "triumphant" and 1 <= len(answer.tracks) <= 3
        played += answer.tracks
    assert sorted(t.id for t in played) == sorted(t.id for t in catalog.items)  # each once, none missing
    assert radio.close() == CODE.OK


def test_the_radio_follows_mood_changes(stub, alice):
    radio = Radio(stub, alice)
    answers = [radio.tune(mood) for mood in ("calm", "energetic", "calm")]
    assert [a.mood for a in answers] == ["calm", "energetic", "calm"]
    assert all(a.mood in t.moods for a in answers for t in a.tracks)
    ids = [t.id for a in answers for t in a.tracks]
    assert len(ids) == 9 and len(set(ids)) == 9
    assert radio.close() == CODE.OK


def test_a_bad_mood_mid_stream_ends_the_radio_with_the_field(stub, alice):
    radio = Radio(stub, alice)
    assert len(radio.tune("calm").tracks) == 3
    with pytest.raises(grpc.RpcError) as caught:
        radio.tune("sleepy")
    assert caught.value.code() == CODE.INVALID_ARGUMENT
    violations = error_details_pb2.BadRequest()
    rpc_status.from_call(caught.value).details[0].Unpack(violations)
    assert [v.field for v in violations.field_violations] == ["mood"]
    radio.requests.put(None)


def test_the_radio_caps_a_stream_at_its_message_limit(stub, alice):
    moods = ["calm"] * (limits.MAX_STREAM_MESSAGES + 1)
    call = stub.MoodRadio((pb.MoodRadioRequest(mood=m) for m in moods), metadata=alice, timeout=30)
    answers = []
    with pytest.raises(grpc.RpcError) as caught:
        for answer in call:
            answers.append(answer)
    assert caught.value.code() == CODE.RESOURCE_EXHAUSTED and len(answers) == limits.MAX_STREAM_MESSAGES
    info = error_details_pb2.ErrorInfo()
    rpc_status.from_call(caught.value).details[0].Unpack(info)
    assert info.metadata["limit"] == str(limits.MAX_STREAM_MESSAGES)


def test_cancelling_the_radio_while_the_server_waits_for_a_mood(stub, alice, home):
    since = time.time()
    radios = [Radio(stub, alice) for _ in range(STREAMS)]
    for radio in radios:
        assert radio.tune("dreamy").tracks  # every stream alice may open now waits for the next mood
    for radio in radios:
        radio.call.cancel()
        assert radio.close() == CODE.CANCELLED
    assert the_server_is_free(stub, alice)
    # grpcio may hand the servicer a cancel as the end of the requests, a moment before it
    # marks the call cancelled: the servicer then ends as if the client had finished (OK).
    assert recorded(home, "mood_radio", {"CANCELLED", "OK"}, STREAMS, since)


def test_streams_need_a_credential_too(stub, long_playlist):
    assert status_of(stub.PlayPlaylist(pb.PlayPlaylistRequest(id=long_playlist.id))) == CODE.UNAUTHENTICATED
    assert status_of(stub.MoodRadio(iter([pb.MoodRadioRequest(mood="calm")]))) == CODE.UNAUTHENTICATED
