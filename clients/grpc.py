"""`.venv/bin/python -m clients.grpc`: the gRPC API from the command line, with the generated stubs.

Each function is one RPC, named as in the proto (and, in snake_case, as in the core and
REST); copy any of them into your own program. Credentials travel as call metadata.
`--show-wire` relays the call through a loopback recorder and decodes the HTTP/2 frames.
"""
import sys

import grpc
from google.protobuf import field_mask_pb2, json_format
from google.rpc import error_details_pb2 as details
from grpc_status import rpc_status
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc

from . import addresses, calls, cli
from . import credentials as creds
from .grpc_wire import Relay, describe

DETAIL_TYPES = (details.BadRequest, details.RetryInfo, details.ErrorInfo, details.PreconditionFailure,
                details.QuotaFailure, details.ResourceInfo)


class GrpcClient:
    """One method per RPC. An argument left as None is a field left unset: protobuf sends
    nothing for it, and the server reads its zero value ("", 0, an empty list)."""

    def __init__(self, address: str | None = None, auth: str = "key", user: str = "alice",
                 token_url: str | None = None, relay: bool = False, tls_address: str | None = None):
        secrets = creds.load(user)
        credential = creds.credential(auth, user, secrets, lambda: creds.fetch_token(token_url or addresses.token_url(), secrets))
        self.metadata = calls.grpc_metadata(credential)   # x-api-key or authorization (see clients/calls.py)
        # A client certificate is presented on the TLS port only.
        address = (tls_address or address or addresses.grpc_address(tls=True) if auth == "mtls"
                   else address or addresses.grpc_address())
        host, port = address.rsplit(":", 1)
        self.relay = Relay(host, int(port)) if relay else None
        target = f"127.0.0.1:{self.relay.port}" if self.relay else address
        if auth == "mtls":
            # Our certificate proves who we are; the demo CA proves who the server is, whose
            # certificate names localhost (the name checked, whatever address we dial).
            credentials = grpc.ssl_channel_credentials(
                root_certificates=open(secrets["ca"], "rb").read(),
                private_key=open(secrets["key"], "rb").read(), certificate_chain=open(secrets["cert"], "rb").read())
            self.channel = grpc.secure_channel(target, credentials,
                                               options=[("grpc.ssl_target_name_override", "localhost")])
        else:
            # Through the relay, :authority still names the server the call is for, not the relay.
            self.channel = grpc.insecure_channel(target, options=[("grpc.default_authority", address)] if relay else [])
        self.stub = playlist_pb2_grpc.PlaylistsStub(self.channel)

    def who_am_i(self):
        return self.stub.WhoAmI(pb.WhoAmIRequest(), metadata=self.metadata)

    def list_moods(self):
        return self.stub.ListMoods(pb.ListMoodsRequest(), metadata=self.metadata)

    def search_tracks(self, mood=None, composer=None, era=None, text=None, page_size=None, page_token=None):
        request = pb.SearchTracksRequest(mood=mood, composer=composer, era=era, text=text,
                                         page_size=page_size, page_token=page_token)
        return self.stub.SearchTracks(request, metadata=self.metadata)

    def get_track(self, track_id):
        return self.stub.GetTrack(pb.GetTrackRequest(id=track_id), metadata=self.metadata)

    def create_playlist(self, name, mood=None, track_ids=None):
        request = pb.CreatePlaylistRequest(name=name, mood=mood, track_ids=track_ids)
        return self.stub.CreatePlaylist(request, metadata=self.metadata)

    def generate_playlist(self, mood, duration_minutes, name=None):
        request = pb.GeneratePlaylistRequest(mood=mood, duration_minutes=duration_minutes, name=name)
        return self.stub.GeneratePlaylist(request, metadata=self.metadata)

    def get_playlist(self, playlist_id):
        return self.stub.GetPlaylist(pb.GetPlaylistRequest(id=playlist_id), metadata=self.metadata)

    def list_playlists(self, page_size=None, page_token=None):
        request = pb.ListPlaylistsRequest(page_size=page_size, page_token=page_token)
        return self.stub.ListPlaylists(request, metadata=self.metadata)

    def update_playlist(self, playlist_id, version, name=None, mood=None, track_ids=None):
        # The field mask names what changes, so "set to empty" and "leave alone" differ.
        changes = {k: v for k, v in {"name": name, "mood": mood, "track_ids": track_ids}.items() if v is not None}
        request = pb.UpdatePlaylistRequest(id=playlist_id, version=version, **changes,
                                           update_mask=field_mask_pb2.FieldMask(paths=list(changes)))
        return self.stub.UpdatePlaylist(request, metadata=self.metadata)

    def add_track(self, playlist_id, track_id, position=None):
        request = pb.AddTrackRequest(playlist_id=playlist_id, track_id=track_id, position=position)
        return self.stub.AddTrack(request, metadata=self.metadata)

    def remove_track(self, playlist_id, position):
        request = pb.RemoveTrackRequest(playlist_id=playlist_id, position=position)
        return self.stub.RemoveTrack(request, metadata=self.metadata)

    def delete_playlist(self, playlist_id):
        return self.stub.DeletePlaylist(pb.DeletePlaylistRequest(id=playlist_id), metadata=self.metadata)

    def echo(self, message="hello, endpoint"):
        return self.stub.Echo(pb.EchoRequest(message=message), metadata=self.metadata)

    def play_playlist(self, playlist_id, ms_per_second=None, timeout=None):
        """A server stream: iterate to receive each track as it starts."""
        request = pb.PlayPlaylistRequest(id=playlist_id, ms_per_second=ms_per_second)
        return self.stub.PlayPlaylist(request, metadata=self.metadata, timeout=timeout)

    def mood_radio(self, moods):
        """A bidirectional stream: each mood sent is answered with fresh tracks of it."""
        return self.stub.MoodRadio((pb.MoodRadioRequest(mood=m) for m in moods), metadata=self.metadata)


def explain(error: grpc.RpcError) -> str:
    """A failed call: the status code and message, and the rich details from the trailers."""
    lines = [f"{error.code().name}: {error.details()}"]
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        for kind in DETAIL_TYPES:
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                lines.append(f"  {kind.__name__}: {json_format.MessageToJson(message, indent=None)}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p, ops = cli.parser(".venv/bin/python -m clients.grpc", "Call the gRPC API.",
                        f"host:port (default {addresses.grpc_address()}, with --auth mtls "
                        f"{addresses.grpc_address(tls=True)}; set by PLAYLISTS_HOST, PLAYLISTS_GRPC_PORT and "
                        "PLAYLISTS_GRPC_TLS_PORT)")
    play = ops.add_parser("play-playlist", aliases=["play"], help="stream a playlist, track by track")
    play.add_argument("playlist_id")
    play.add_argument("--ms-per-second", type=int, help="real milliseconds per second of music (default 5)")
    ops.add_parser("mood-radio", aliases=["radio"], help="send moods, receive fresh tracks of each").add_argument(
        "moods", nargs="+", help="the moods to send, in order")
    cli.ALIASES.update({"play-playlist": "play", "mood-radio": "radio"})
    args = p.parse_args(argv)
    client = GrpcClient(args.server, args.auth, args.user, relay=args.show_wire)
    mark = client.relay.mark() if client.relay else None
    code = 0
    try:
        answer = cli.call(client, args)
        for message in answer if args.operation in ("play-playlist", "play", "mood-radio", "radio") else [answer]:
            if not args.show_wire:
                print(json_format.MessageToJson(message, preserving_proto_field_name=True, indent=2))
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.UNAVAILABLE:
            raise SystemExit("cannot reach the gRPC server: is `make serve` running?")
        print(explain(error), file=sys.stderr)
        code = 1
    if args.show_wire:
        client.channel.close()
        if args.auth == "mtls":
            print("(mutual TLS: the relay saw only encrypted bytes; use another --auth to see the frames)")
        else:
            print(describe(client.relay.sent, client.relay.received, mark), end="")
    return code


if __name__ == "__main__":
    sys.exit(main())
