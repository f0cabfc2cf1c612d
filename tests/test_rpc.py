"""The gRPC server through the generated stubs: every RPC, bad input, ownership, parity with REST and SOAP."""
from datetime import datetime

import grpc
import pytest
import requests
import zeep
import zeep.helpers
from google.protobuf import field_mask_pb2, json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from playlist.v1 import playlist_pb2 as pb

from clients.calls import TNS
from core import limits

CODE = grpc.StatusCode


@pytest.fixture(scope="module")
def alice(credentials):
    return [("x-api-key", credentials["users"]["alice"]["api_key"])]


@pytest.fixture(scope="module")
def bob(credentials):
    return [("x-api-key", credentials["users"]["bob"]["api_key"])]


def refused(code, rpc, request, metadata=None):
    """Call an RPC that must fail with `code`; return the error."""
    with pytest.raises(grpc.RpcError) as caught:
        rpc(request, metadata=metadata, timeout=10)
    assert caught.value.code() == code, caught.value.details()
    return caught.value


def detail(error, kind):
    """The one google.rpc detail of type `kind` in the error's trailers."""
    status = rpc_status.from_call(error)  # checks that the trailer agrees with the status line
    found = [d for d in status.details if d.Is(kind.DESCRIPTOR)]
    assert len(found) == 1, status
    message = kind()
    found[0].Unpack(message)
    return message


def violated_fields(error):
    return [v.field for v in detail(error, error_details_pb2.BadRequest).field_violations]


def new_playlist(stub, metadata, name="Evening", tracks=("bach-bwv1068-air", "satie-gymnopedie-1")):
    return stub.CreatePlaylist(pb.CreatePlaylistRequest(name=name, mood="calm", track_ids=tracks), metadata=metadata)


# --- every RPC ---------------------------------------------------------------------------------

def test_who_am_i(stub, alice):
    me = stub.WhoAmI(pb.WhoAmIRequest(), metadata=alice)
    assert (me.name, me.auth_method, list(me.scopes)) == ("alice", "api_key", ["playlists:read", "playlists:write"])


def test_list_moods(stub, alice):
    moods = stub.ListMoods(pb.ListMoodsRequest(), metadata=alice).items
    assert len(moods) == 10 and moods[0].name == "calm" and "Peaceful" in moods[0].description


def test_search_tracks_pages_through_every_match(stub, alice):
    seen, token = [], ""
    while True:
        page = stub.SearchTracks(pb.SearchTracksRequest(mood="calm", page_size=30, page_token=token), metadata=alice)
        seen += page.items
        token = page.next_page_token
        if not token:
            break
    assert len(seen) > 30 and len({t.id for t in seen}) == len(seen)
    assert all("calm" in t.moods for t in seen)
    bach = stub.SearchTracks(pb.SearchTracksRequest(composer="bach", era="baroque", text="air"), metadata=alice)
    assert [t.id for t in bach.items] == ["bach-bwv1068-air"] and not bach.next_page_token


def test_get_track(stub, alice):
    air = stub.GetTrack(pb.GetTrackRequest(id="bach-bwv1068-air"), metadata=alice)
    assert (air.title, air.composer, air.year, air.duration_seconds, air.key) == (
        "Air", "Johann Sebastian Bach", 1730, 300, "D major")
    assert list(air.moods) == ["calm", "contemplative", "romantic"]


def test_create_get_and_list_playlists(stub, alice):
    created = new_playlist(stub, alice)
    assert created.id.startswith("pl_") and created.owner == "alice" and created.version == 1
    assert [t.id for t in created.tracks] == ["bach-bwv1068-air", "satie-gymnopedie-1"]
    assert created.total_duration_seconds == sum(t.duration_seconds for t in created.tracks)
    assert created.created_at.seconds > 0 and created.created_at == created.updated_at
    assert stub.GetPlaylist(pb.GetPlaylistRequest(id=created.id), metadata=alice) == created
    listed, token = [], ""
    while True:
        page = stub.ListPlaylists(pb.ListPlaylistsRequest(page_size=2, page_token=token), metadata=alice)
        listed += page.items
        token = page.next_page_token
        if not token:
            break
    assert created in listed and {p.owner for p in listed} == {"alice"}


def test_generate_playlist(stub, alice):
    generated = stub.GeneratePlaylist(pb.GeneratePlaylistRequest(mood="energetic", duration_minutes=30),
                                      metadata=alice)
    assert generated.name == "Energetic, 30 minutes" and generated.mood == "energetic"
    assert 27 * 60 <= generated.total_duration_seconds <= 33 * 60
    assert all("energetic" in t.moods for t in generated.tracks)


def test_update_playlist_changes_only_the_masked_fields(stub, alice):
    playlist = new_playlist(stub, alice)
    renamed = stub.UpdatePlaylist(pb.UpdatePlaylistRequest(
        id=playlist.id, version=1, name="Night", mood="", update_mask=field_mask_pb2.FieldMask(paths=["name"])),
        metadata=alice)
    assert (renamed.name, renamed.mood, renamed.version) == ("Night", "calm", 2)
    assert renamed.tracks == playlist.tracks and renamed.updated_at.ToSeconds() >= playlist.updated_at.ToSeconds()
    reordered = stub.UpdatePlaylist(pb.UpdatePlaylistRequest(   # no mask: every field that is set
        id=playlist.id, version=2, track_ids=["satie-gymnopedie-1", "bach-bwv1068-air"]), metadata=alice)
    assert [t.id for t in reordered.tracks] == ["satie-gymnopedie-1", "bach-bwv1068-air"]
    assert (reordered.name, reordered.version) == ("Night", 3)
    emptied = stub.UpdatePlaylist(pb.UpdatePlaylistRequest(
        id=playlist.id, version=3, update_mask=field_mask_pb2.FieldMask(paths=["track_ids", "mood"])), metadata=alice)
    assert (list(emptied.tracks), emptied.mood, emptied.total_duration_seconds) == ([], "", 0)


def test_an_update_without_its_version_is_a_failed_precondition(stub, alice):
    playlist = new_playlist(stub, alice)
    unversioned = pb.UpdatePlaylistRequest(id=playlist.id, name="Blind")
    error = refused(CODE.FAILED_PRECONDITION, stub.UpdatePlaylist, unversioned, alice)
    assert [v.subject for v in detail(error, error_details_pb2.PreconditionFailure).violations] == ["version"]
    assert stub.GetPlaylist(pb.GetPlaylistRequest(id=playlist.id), metadata=alice).name == playlist.name


def test_a_stale_version_is_aborted_with_the_current_version(stub, alice):
    playlist = new_playlist(stub, alice)
    stub.AddTrack(pb.AddTrackRequest(playlist_id=playlist.id, track_id="bach-bwv1043-2"), metadata=alice)
    for rpc, request in [
            (stub.UpdatePlaylist, pb.UpdatePlaylistRequest(id=playlist.id, version=1, name="Stale")),
            (stub.AddTrack, pb.AddTrackRequest(playlist_id=playlist.id, track_id="bach-bwv1043-2", version=1)),
            (stub.RemoveTrack, pb.RemoveTrackRequest(playlist_id=playlist.id, position=1, version=1)),
            (stub.DeletePlaylist, pb.DeletePlaylistRequest(id=playlist.id, version=1))]:
        info = detail(refused(CODE.ABORTED, rpc, request, alice), error_details_pb2.ErrorInfo)
        assert info.reason == "VERSION_CONFLICT" and info.metadata["current_version"] == "2"
    assert stub.GetPlaylist(pb.GetPlaylistRequest(id=playlist.id), metadata=alice).version == 2


def test_add_and_remove_tracks_by_1_based_position(stub, alice):
    playlist = new_playlist(stub, alice)
    first = stub.AddTrack(pb.AddTrackRequest(playlist_id=playlist.id, track_id="bach-bwv1043-2", position=1,
                                             version=1), metadata=alice)
    appended = stub.AddTrack(pb.AddTrackRequest(playlist_id=playlist.id, track_id="bach-bwv846-prelude"),
                             metadata=alice)
    assert [t.id for t in first.tracks][0] == "bach-bwv1043-2"
    assert [t.id for t in appended.tracks] == ["bach-bwv1043-2", "bach-bwv1068-air", "satie-gymnopedie-1",
                                               "bach-bwv846-prelude"]
    removed = stub.RemoveTrack(pb.RemoveTrackRequest(playlist_id=playlist.id, position=2, version=3), metadata=alice)
    assert [t.id for t in removed.tracks] == ["bach-bwv1043-2", "satie-gymnopedie-1", "bach-bwv846-prelude"]
    assert removed.version == 4
    error = refused(CODE.INVALID_ARGUMENT, stub.RemoveTrack, pb.RemoveTrackRequest(playlist_id=playlist.id,
                                                                                   position=9), alice)
    assert violated_fields(error) == ["position"]


def test_delete_playlist(stub, alice):
    playlist = new_playlist(stub, alice)
    assert stub.DeletePlaylist(pb.DeletePlaylistRequest(id=playlist.id, version=1), metadata=alice) is not None
    refused(CODE.NOT_FOUND, stub.GetPlaylist, pb.GetPlaylistRequest(id=playlist.id), alice)
    refused(CODE.NOT_FOUND, stub.DeletePlaylist, pb.DeletePlaylistRequest(id=playlist.id), alice)


def test_echo_shows_the_call_with_the_credential_redacted(stub, alice, credentials):
    echo = stub.Echo(pb.EchoRequest(message="héllo"), metadata=alice + [("x-trace", "42")])
    assert (echo.protocol, echo.operation, echo.user, echo.auth_method) == (
        "grpc", "/playlist.v1.Playlists/Echo", "alice", "api_key")
    headers = {h.name: h.value for h in echo.headers}
    assert headers["x-api-key"] == "[redacted]" and headers["x-trace"] == "42"
    assert headers["user-agent"].startswith("grpc-python/")
    assert echo.body == 'message: "héllo"\n'
    assert credentials["users"]["alice"]["api_key"] not in str(echo)


# --- ownership -----------------------------------------------------------------------------------

def test_bob_cannot_read_or_change_alices_playlist(stub, alice, bob):
    playlist = new_playlist(stub, alice)
    for rpc, request in [
            (stub.GetPlaylist, pb.GetPlaylistRequest(id=playlist.id)),
            (stub.UpdatePlaylist, pb.UpdatePlaylistRequest(id=playlist.id, version=1, name="Mine now")),
            (stub.AddTrack, pb.AddTrackRequest(playlist_id=playlist.id, track_id="bach-bwv1043-2")),
            (stub.RemoveTrack, pb.RemoveTrackRequest(playlist_id=playlist.id, position=1)),
            (stub.DeletePlaylist, pb.DeletePlaylistRequest(id=playlist.id))]:
        # Word for word what a playlist that does not exist gets: ids cannot be probed.
        assert refused(CODE.NOT_FOUND, rpc, request, bob).details() == f"no playlist with id {playlist.id!r}"
    assert playlist.id not in {p.id for p in stub.ListPlaylists(pb.ListPlaylistsRequest(), metadata=bob).items}
    assert stub.GetPlaylist(pb.GetPlaylistRequest(id=playlist.id), metadata=alice) == playlist


# --- bad input: a precise status, details in the trailers, and the server keeps serving -------------

@pytest.mark.parametrize("rpc, request_, field", [
    ("SearchTracks", pb.SearchTracksRequest(page_size=1000), "page_size"),
    ("SearchTracks", pb.SearchTracksRequest(page_size=-1), "page_size"),
    ("SearchTracks", pb.SearchTracksRequest(mood="sleepy"), "mood"),
    ("SearchTracks", pb.SearchTracksRequest(page_token="forged.token"), "page_token"),
    ("ListPlaylists", pb.ListPlaylistsRequest(page_size=1000), "page_size"),
    ("GeneratePlaylist", pb.GeneratePlaylistRequest(mood="calm", duration_minutes=-5), "duration_minutes"),
    ("GeneratePlaylist", pb.GeneratePlaylistRequest(duration_minutes=30), "mood"),
    ("CreatePlaylist", pb.CreatePlaylistRequest(mood="calm"), "name"),
    ("CreatePlaylist", pb.CreatePlaylistRequest(name="x" * 101), "name"),
    ("CreatePlaylist", pb.CreatePlaylistRequest(name="Mix", track_ids=["no-such-track"]), "track_ids[0]"),
    ("GetTrack", pb.GetTrackRequest(), "id"),
    ("GetPlaylist", pb.GetPlaylistRequest(), "id"),
    ("UpdatePlaylist", pb.UpdatePlaylistRequest(id="pl_x", version=1, update_mask=field_mask_pb2.FieldMask(
        paths=["owner"])), "update_mask"),
    ("AddTrack", pb.AddTrackRequest(track_id="bach-bwv1068-air"), "playlist_id"),
    ("AddTrack", pb.AddTrackRequest(playlist_id="pl_x"), "track_id"),
    ("DeletePlaylist", pb.DeletePlaylistRequest(), "id"),
])
def test_invalid_arguments_name_the_field(stub, alice, rpc, request_, field):
    error = refused(CODE.INVALID_ARGUMENT, getattr(stub, rpc), request_, alice)
    assert violated_fields(error) == [field]
    assert error.details().startswith(field)


def test_unknown_ids_are_not_found(stub, alice):
    refused(CODE.NOT_FOUND, stub.GetTrack, pb.GetTrackRequest(id="no-such-track"), alice)
    refused(CODE.NOT_FOUND, stub.GetPlaylist, pb.GetPlaylistRequest(id="pl_nope"), alice)
    refused(CODE.NOT_FOUND, stub.AddTrack, pb.AddTrackRequest(playlist_id="pl_nope", track_id="bach-bwv1068-air"),
            alice)


def test_undecodable_bytes_are_an_invalid_argument(channel, stub, alice):
    raw = channel.unary_unary("/playlist.v1.Playlists/GetTrack")  # no serializer: bytes go out as they are
    for garbage in (b"\xff\xff\xff", b"\x0a\x02\xff\xfe"):  # a broken tag; a string that is not UTF-8
        error = refused(CODE.INVALID_ARGUMENT, raw, garbage, alice)
        assert violated_fields(error) == ["request"] and "GetTrackRequest" in error.details()
    assert stub.WhoAmI(pb.WhoAmIRequest(), metadata=alice).name == "alice"


def test_a_message_over_the_size_limit_is_refused(stub, alice):
    refused(CODE.RESOURCE_EXHAUSTED, stub.Echo, pb.EchoRequest(message="x" * (limits.MAX_BODY_BYTES + 1)), alice)
    assert stub.Echo(pb.EchoRequest(message="x" * 1000), metadata=alice).user == "alice"


def test_a_playlist_over_its_track_limit_is_refused_with_the_limit(stub, alice):
    catalog = stub.SearchTracks(pb.SearchTracksRequest(page_size=50), metadata=alice)
    more = stub.SearchTracks(pb.SearchTracksRequest(page_size=50, page_token=catalog.next_page_token), metadata=alice)
    ids = [t.id for t in list(catalog.items) + list(more.items)][:limits.MAX_TRACKS_PER_PLAYLIST]
    full = stub.CreatePlaylist(pb.CreatePlaylistRequest(name="Full", track_ids=ids), metadata=alice)
    error = refused(CODE.RESOURCE_EXHAUSTED, stub.AddTrack, pb.AddTrackRequest(
        playlist_id=full.id, track_id="bach-bwv1068-air"), alice)
    info = detail(error, error_details_pb2.ErrorInfo)
    assert info.reason == "TOO_LARGE" and info.metadata["limit"] == str(limits.MAX_TRACKS_PER_PLAYLIST)


def test_an_unknown_method_is_unimplemented(channel, alice):
    refused(CODE.UNIMPLEMENTED, channel.unary_unary("/playlist.v1.Playlists/Nope"), b"", alice)


# --- one playlist, three protocols ----------------------------------------------------------------

def as_json(message) -> dict:
    """A message as protobuf's canonical JSON mapping writes it, with the proto's field names."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def test_a_playlist_created_over_grpc_reads_back_identically_over_rest(stub, alice, rest_server, credentials):
    created = new_playlist(stub, alice, name="Across the wire")
    response = requests.get(f"http://127.0.0.1:{rest_server.port}/v1/playlists/{created.id}",
                            headers={"X-API-Key": credentials["users"]["alice"]["api_key"]}, timeout=10)
    assert response.status_code == 200
    assert response.json() == as_json(created)


def plain(value):
    """SOAP data as zeep returns it, as plain values: an XML array (a wrapper element
    around repeated items) becomes the list of its items; a dateTime its RFC 3339 text."""
    if isinstance(value, dict):
        items = list(value.values())
        if len(items) == 1 and isinstance(items[0], list):
            return [plain(v) for v in items[0]]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def test_a_playlist_created_over_grpc_reads_back_identically_over_soap(stub, alice, soap_server, credentials):
    created = new_playlist(stub, alice, name="Across the envelope")
    client = zeep.Client(f"http://127.0.0.1:{soap_server.port}/soap?wsdl")
    soap = client.create_service(f"{{{TNS}}}Playlists", f"http://127.0.0.1:{soap_server.port}/soap")
    api_key = client.get_element(f"{{{TNS}}}ApiKey")(credentials["users"]["alice"]["api_key"])
    playlist = soap.GetPlaylist(playlist_id=created.id, _soapheaders=[api_key])
    assert plain(zeep.helpers.serialize_object(playlist, dict)) == as_json(created)
