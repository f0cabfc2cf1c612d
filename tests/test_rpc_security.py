"""Who may call: the four credentials in gRPC's idiom, mutual TLS, the open health and
reflection services, and the shared rate limit."""
import base64

import grpc
import pytest
import requests
from google.protobuf import descriptor_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc

from serve.launch import Server

from .conftest import TEST_ENV

CODE = grpc.StatusCode
SERVICE = "playlist.v1.Playlists"


def token(rest_server, user: dict, scope: str = "") -> str:
    """An OAuth 2.0 access token from the REST server (client-credentials grant; the client
    authenticates with HTTP Basic, as RFC 6749 §2.3.1 recommends)."""
    response = requests.post(f"http://127.0.0.1:{rest_server.port}/oauth/token", timeout=10,
                             auth=(user["client_id"], user["client_secret"]),
                             data={"grant_type": "client_credentials", "scope": scope})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def tls_channel(rpc_server, home, credentials, user: str | None = "alice") -> grpc.Channel:
    """A channel to the mutual-TLS port, with the user's client certificate (or none)."""
    tls = credentials["tls"]
    client = tls["clients"][user] if user else None
    return grpc.secure_channel(f"localhost:{rpc_server.tls_port}", grpc.ssl_channel_credentials(
        root_certificates=(home / tls["ca"]).read_bytes(),
        private_key=(home / client["key"]).read_bytes() if client else None,
        certificate_chain=(home / client["cert"]).read_bytes() if client else None))


def who(stub, metadata=None) -> tuple[str, str]:
    me = stub.WhoAmI(pb.WhoAmIRequest(), metadata=metadata, timeout=10)
    return me.name, me.auth_method


# --- the four credentials ---------------------------------------------------------------------------

def test_an_api_key_in_metadata(stub, credentials):
    assert who(stub, [("x-api-key", credentials["users"]["bob"]["api_key"])]) == ("bob", "api_key")


def test_basic_authorization_metadata(stub, credentials):
    assert who(stub, [("authorization", basic("alice", credentials["users"]["alice"]["password"]))]) == (
        "alice", "basic")


def test_a_bearer_token_from_the_rest_server(stub, rest_server, credentials):
    bearer = token(rest_server, credentials["users"]["bob"])
    assert who(stub, [("authorization", f"Bearer {bearer}")]) == ("bob", "bearer")


def test_a_read_only_token_may_read_but_not_write(stub, rest_server, credentials):
    reader = [("authorization", "Bearer " + token(rest_server, credentials["users"]["alice"], "playlists:read"))]
    assert stub.GetTrack(pb.GetTrackRequest(id="bach-bwv1068-air"), metadata=reader).title == "Air"
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreatePlaylist(pb.CreatePlaylistRequest(name="Nope"), metadata=reader)
    assert caught.value.code() == CODE.PERMISSION_DENIED and "playlists:write" in caught.value.details()


def test_a_client_certificate_on_the_tls_port(rpc_server, home, credentials):
    with tls_channel(rpc_server, home, credentials) as channel:
        assert who(playlist_pb2_grpc.PlaylistsStub(channel)) == ("alice", "mtls")


def test_metadata_outranks_the_certificate(rpc_server, home, credentials):
    with tls_channel(rpc_server, home, credentials) as channel:
        bob = [("x-api-key", credentials["users"]["bob"]["api_key"])]
        assert who(playlist_pb2_grpc.PlaylistsStub(channel), bob) == ("bob", "api_key")


def test_the_tls_port_refuses_a_client_without_a_certificate(rpc_server, home, credentials, stub):
    with tls_channel(rpc_server, home, credentials, user=None) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            who(playlist_pb2_grpc.PlaylistsStub(channel), [("x-api-key", credentials["users"]["alice"]["api_key"])])
    assert caught.value.code() == CODE.UNAVAILABLE  # the handshake failed: no call was ever made
    with grpc.insecure_channel(f"127.0.0.1:{rpc_server.tls_port}") as plain:
        with pytest.raises(grpc.RpcError) as caught:
            who(playlist_pb2_grpc.PlaylistsStub(plain))
    assert caught.value.code() == CODE.UNAVAILABLE
    assert who(stub, [("x-api-key", credentials["users"]["alice"]["api_key"])]) == ("alice", "api_key")


@pytest.mark.parametrize("metadata", [
    [],
    [("x-api-key", "pk_guess")],
    [("authorization", "Basic !!!")],
    [("authorization", basic("mallory", "guess"))],
    [("authorization", "Bearer x.y.z")],
    [("authorization", "Digest whatever")],
])
def test_missing_or_wrong_credentials_are_unauthenticated(stub, metadata):
    with pytest.raises(grpc.RpcError) as caught:
        who(stub, metadata)
    assert caught.value.code() == CODE.UNAUTHENTICATED
    assert caught.value.details() == "invalid or missing credentials"  # never which part was wrong


# --- open to all: health and reflection ----------------------------------------------------------

@pytest.mark.parametrize("service", ["", SERVICE])
def test_health_reports_serving_without_credentials(channel, service):
    health = health_pb2_grpc.HealthStub(channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_and_describes_the_service_without_credentials(channel):
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = list(reflection.ServerReflectionInfo(iter([
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE)]), timeout=10))
    listed = {s.name for s in answers[0].list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= listed
    files = [descriptor_pb2.FileDescriptorProto.FromString(f)
             for f in answers[1].file_descriptor_response.file_descriptor_proto]
    playlist = next(f for f in files if f.name == "playlist/v1/playlist.proto")
    methods = [m.name for m in playlist.service[0].method]
    assert methods[:3] == ["WhoAmI", "ListMoods", "SearchTracks"] and "MoodRadio" in methods


# --- the shared rate limit ----------------------------------------------------------------------------

def test_over_the_rate_limit_is_resource_exhausted_with_retry_info(home, credentials):
    server = Server("rpc", home, {**TEST_ENV, "PLAYLISTS_RATE_LIMIT": "3/minute"})
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = playlist_pb2_grpc.PlaylistsStub(channel)
            bob = [("x-api-key", credentials["users"]["bob"]["api_key"])]
            codes, error = [], None
            for _ in range(10):  # 10 calls: more than 3 fall in one minute, even across its boundary
                try:
                    who(stub, bob)
                    codes.append(CODE.OK)
                except grpc.RpcError as refused:
                    codes.append(refused.code())
                    error = refused
    finally:
        server.stop()
    assert CODE.RESOURCE_EXHAUSTED in codes and set(codes) <= {CODE.OK, CODE.RESOURCE_EXHAUSTED}
    retry = error_details_pb2.RetryInfo()
    rpc_status.from_call(error).details[0].Unpack(retry)
    assert 1 <= retry.retry_delay.seconds <= 60
