"""The sample clients against real servers: every operation, every credential, honest wire dumps."""
import io
import os

import pytest
from lxml import etree

from clients.calls import SOAP_ENV, TNS
from clients.rest import RestClient
from clients.soap import SoapClient, ZeepClient
from clients.wire import Tap, show

P = f"{{{TNS}}}"


@pytest.fixture(scope="module", autouse=True)
def client_home(home):
    """The clients find credentials.json through $PLAYLISTS_HOME, as on a learner's machine."""
    before = os.environ.get("PLAYLISTS_HOME")
    os.environ["PLAYLISTS_HOME"] = str(home)
    yield
    if before is None:
        del os.environ["PLAYLISTS_HOME"]
    else:
        os.environ["PLAYLISTS_HOME"] = before


def rest(server, auth="key", tap=None):
    return RestClient(f"http://127.0.0.1:{server.port}", auth, "alice", tap)


def soap(server, auth="key", tap=None, rest_server=None):
    token_url = f"http://127.0.0.1:{rest_server.port}/oauth/token" if rest_server else ""
    return SoapClient(f"http://127.0.0.1:{server.port}/soap", auth, "alice", tap, token_url)


@pytest.mark.parametrize("auth", ["key", "basic", "token", "mtls"])
def test_rest_client_authenticates_each_way(rest_server, auth):
    client = rest(rest_server, auth)
    if auth == "mtls":
        client.url = f"https://127.0.0.1:{rest_server.tls_port}"
    assert client.who_am_i().json()["auth_method"] == {"key": "api_key"}.get(auth, auth).replace("token", "bearer")


def test_rest_client_covers_every_operation(rest_server):
    client = rest(rest_server)
    assert client.list_moods().json()["items"]
    track = client.search_tracks(mood="calm", page_size=1).json()["items"][0]
    assert client.get_track(track["id"]).json() == track
    playlist = client.create_playlist("Clients", "calm", [track["id"]]).json()
    assert client.get_playlist(playlist["id"]).json() == playlist
    playlist = client.add_track(playlist["id"], "bach-bwv1007-prelude").json()
    playlist = client.update_playlist(playlist["id"], playlist["version"], name="Clients 2").json()
    playlist = client.remove_track(playlist["id"], 1).json()
    assert [t["id"] for t in playlist["tracks"]] == ["bach-bwv1007-prelude"] and playlist["name"] == "Clients 2"
    assert playlist["id"] in [p["id"] for p in client.list_playlists(page_size=50).json()["items"]]
    assert client.generate_playlist("joyful", 10).status_code == 201
    assert client.delete_playlist(playlist["id"]).status_code == 204
    assert client.echo("hi").json()["body"] == '{"message": "hi"}'


def test_rest_wire_dump_is_what_the_server_received(rest_server):
    tap = Tap()
    client = rest(rest_server, tap=tap)
    tap.clear()
    received = client.echo("byte for byte").json()
    head, _, body = bytes(tap.sent).partition(b"\r\n\r\n")
    assert body.decode() == received["body"]
    assert head.startswith(b"POST /v1/echo HTTP/1.1\r\n")
    out = io.StringIO()
    show(tap, out)
    assert "> POST /v1/echo HTTP/1.1" in out.getvalue() and "< HTTP/1.1 200 OK" in out.getvalue()


@pytest.mark.parametrize("auth", ["key", "basic", "token", "mtls"])
def test_soap_client_authenticates_each_way(soap_server, rest_server, auth):
    client = soap(soap_server, auth, rest_server=rest_server)
    if auth == "mtls":
        client.url = f"https://127.0.0.1:{soap_server.tls_port}/soap"
    answer = etree.fromstring(client.who_am_i().content)
    assert answer.findtext(f".//{P}auth_method") == {"key": "api_key", "token": "bearer"}.get(auth, auth)


def test_soap_client_covers_every_operation(soap_server):
    client = soap(soap_server)

    def body(response, status=200):
        assert response.status_code == status, response.text
        return etree.fromstring(response.content)

    assert body(client.list_moods()).findall(f".//{P}Mood")
    track_id = body(client.search_tracks(mood="calm", page_size=1)).findtext(f".//{P}Track/{P}id")
    assert body(client.get_track(track_id)).findtext(f".//{P}id") == track_id
    playlist = body(client.create_playlist("Clients", "calm", [track_id]))
    playlist_id = playlist.findtext(f".//{P}playlist/{P}id")
    assert body(client.get_playlist(playlist_id)).findtext(f".//{P}playlist/{P}name") == "Clients"
    assert body(client.add_track(playlist_id, "bach-bwv1007-prelude")).findtext(f".//{P}version") == "2"
    assert body(client.update_playlist(playlist_id, 2, name="Clients 2")).findtext(f".//{P}playlist/{P}name") == "Clients 2"
    assert body(client.remove_track(playlist_id, 1)).findtext(f".//{P}version") == "4"
    assert playlist_id in [e.text for e in body(client.list_playlists(page_size=50)).iter(f"{P}id")]
    assert body(client.generate_playlist("joyful", 10)).findtext(f".//{P}mood") == "joyful"
    body(client.delete_playlist(playlist_id))
    assert "Client.NotFound" in body(client.get_playlist(playlist_id), 500).findtext(".//faultcode")
    assert "hello" in body(client.echo("hello")).findtext(f".//{P}body")


def test_soap_wire_dump_parses_as_the_envelope_posted(soap_server):
    tap = Tap()
    client = soap(soap_server, tap=tap)
    envelope = client.envelope("GetTrack", track_id="bach-bwv1007-prelude")
    tap.clear()
    client.get_track("bach-bwv1007-prelude")
    _, _, posted = bytes(tap.sent).partition(b"\r\n\r\n")
    assert posted == envelope
    assert etree.fromstring(posted).find(f"{{{SOAP_ENV}}}Body/{P}GetTrack/{P}track_id").text == "bach-bwv1007-prelude"


def test_zeep_makes_the_same_call_from_the_wsdl(soap_server):
    zeep_client = ZeepClient(f"http://127.0.0.1:{soap_server.port}/soap", "key", "alice")
    hand_made = etree.fromstring(soap(soap_server).get_track("bach-bwv1007-prelude").content)
    assert zeep_client.get_track("bach-bwv1007-prelude")["title"] == hand_made.findtext(f".//{P}title")


def grpc_client(server, auth="key", rest_server=None, relay=False):
    from clients.grpc import GrpcClient
    token_url = f"http://127.0.0.1:{rest_server.port}/oauth/token" if rest_server else ""
    return GrpcClient(f"127.0.0.1:{server.port}", auth, "alice", token_url, relay,
                      tls_address=f"127.0.0.1:{server.tls_port}")


@pytest.mark.parametrize("auth", ["key", "basic", "token", "mtls"])
def test_grpc_client_authenticates_each_way(rpc_server, rest_server, auth):
    me = grpc_client(rpc_server, auth, rest_server).who_am_i()
    assert me.name == "alice" and me.auth_method == {"key": "api_key", "token": "bearer"}.get(auth, auth)


def test_grpc_client_covers_every_operation(rpc_server):
    import grpc
    client = grpc_client(rpc_server)
    assert client.list_moods().items
    track = client.search_tracks(mood="calm", page_size=1).items[0]
    assert client.get_track(track.id) == track
    playlist = client.create_playlist("Clients", "calm", [track.id])
    assert client.get_playlist(playlist.id) == playlist
    playlist = client.add_track(playlist.id, "bach-bwv1007-prelude")
    playlist = client.update_playlist(playlist.id, playlist.version, name="Clients 2")
    playlist = client.remove_track(playlist.id, 1)
    assert [t.id for t in playlist.tracks] == ["bach-bwv1007-prelude"] and playlist.name == "Clients 2"
    assert playlist.id in [p.id for p in client.list_playlists(page_size=50).items]
    assert [n.track.id for n in client.play_playlist(playlist.id, ms_per_second=1)] == ["bach-bwv1007-prelude"]
    radio = list(client.mood_radio(["calm", "joyful"]))
    assert [r.mood for r in radio] == ["calm", "joyful"] and all(r.tracks for r in radio)
    assert client.generate_playlist("joyful", 10).mood == "joyful"
    client.delete_playlist(playlist.id)
    with pytest.raises(grpc.RpcError) as error:
        client.get_playlist(playlist.id)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert "hi there" in client.echo("hi there").body


def test_grpc_wire_dump_decodes_back_to_the_message_sent(rpc_server):
    from hyperframe.frame import DataFrame
    from playlist.v1 import playlist_pb2 as pb

    from clients.grpc_wire import describe, frames, grpc_messages
    client = grpc_client(rpc_server, relay=True)
    client.who_am_i()                                   # the connection's first call sets up HTTP/2
    mark = client.relay.mark()
    sent = pb.SearchTracksRequest(mood="calm", era="Baroque", page_size=2)
    answer = client.stub.SearchTracks(sent, metadata=client.metadata)
    requests = [message for offset, frame in frames(bytes(client.relay.sent)) if offset >= mark[0]
                and isinstance(frame, DataFrame) for _, _, message in grpc_messages(frame.data)]
    assert [pb.SearchTracksRequest.FromString(m) for m in requests] == [sent]
    answers = [message for offset, frame in frames(bytes(client.relay.received)) if offset >= mark[1]
               and isinstance(frame, DataFrame) for _, _, message in grpc_messages(frame.data)]
    assert [pb.SearchTracksResponse.FromString(m) for m in answers] == [answer]
    text = describe(client.relay.sent, client.relay.received, mark)
    assert ":path: /playlist.v1.Playlists/SearchTracks" in text and "field 1 (mood), length-delimited: 'calm'" in text
    assert "grpc-status: 0" in text
    assert f":authority: 127.0.0.1:{rpc_server.port}" in text   # the server's address, not the relay's


def test_grpc_wire_dump_says_when_a_varint_is_a_negative_number():
    from playlist.v1 import playlist_pb2 as pb

    from clients.grpc_wire import decode_protobuf
    shown = decode_protobuf(pb.GeneratePlaylistRequest(duration_minutes=-5).SerializeToString(),
                            pb.GeneratePlaylistRequest.DESCRIPTOR)
    assert any("varint: 18446744073709551611 = -5 (a negative int32/int64" in line for line in shown), shown


def credentials_of(home):
    return __import__("json").loads((home / "credentials.json").read_text())["users"]["alice"]


def test_compare_prints_three_columns_and_writes_a_well_formed_page(rest_server, soap_server, rpc_server, home,
                                                                   capsys):
    from html.parser import HTMLParser

    from clients import compare
    assert compare.main(["all", "--width", "200", "--rest", f"http://127.0.0.1:{rest_server.port}",
                         "--soap", f"http://127.0.0.1:{soap_server.port}/soap",
                         "--grpc", f"127.0.0.1:{rpc_server.port}"]) == 0
    out = capsys.readouterr().out
    assert out.count("REST" + " " * 10) >= 5 and "bytes received" in out
    for status in ("404 NOT FOUND", "NOT_FOUND", "400 BAD REQUEST", "INVALID_ARGUMENT", "201 CREATED"):
        assert status in out

    class Balanced(HTMLParser):
        VOID = {"meta", "br", "hr", "img", "link", "input"}

        def __init__(self):
            super().__init__()
            self.open = []

        def handle_starttag(self, tag, attrs):
            if tag not in self.VOID:
                self.open.append(tag)

        def handle_endtag(self, tag):
            assert self.open and self.open.pop() == tag, f"</{tag}> closes nothing"

    page = (home / "compare.html").read_text()
    assert credentials_of(home)["api_key"] not in page + out
    parser = Balanced()
    parser.feed(page)
    assert parser.open == [] and all(f"<h3>{p}</h3>" in page for p in ("REST", "SOAP", "gRPC"))
