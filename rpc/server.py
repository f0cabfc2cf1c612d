"""The gRPC adapter: protobuf over HTTP/2 in front of the core.

Four parts, in the same order as in rest/ and soap/: the server factory, authentication
glue, one handler per operation (the servicer), and the error mapping. The contract is
protos/playlist/v1/playlist.proto; `make setup` generates the `playlist.v1` stubs from it.
"""
import base64
import contextvars
import functools
import logging
import multiprocessing
import multiprocessing.connection
import queue
import signal
import socket
import threading
from collections import Counter
from concurrent import futures
from datetime import datetime
from pathlib import Path

import grpc
from google.protobuf import duration_pb2, empty_pb2, text_format, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc

from core import PlaylistService, events, limits
from core.auth import ApiKey, Caller, ClientCertificate, Identity, credential_from_authorization
from core.config import Settings
from core.errors import (Conflict, FieldViolation, Forbidden, InvalidArgument, NotFound, RateLimited, ServiceError,
                         TooLarge, Unauthenticated, VersionRequired, invalid)
from core.model import Playlist, Track

from .interceptors import CallRecord, around, caller, peer_address, presented

log = logging.getLogger("rpc")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Playlists"].full_name  # "playlist.v1.Playlists"
GRACE_SECONDS = 5
DEFAULT_WORKERS = 4      # threads per process
# Like REST's and SOAP's two gunicorn workers; one where the ports cannot be shared (in_processes).
DEFAULT_PROCESSES = 2 if hasattr(socket, "SO_REUSEPORT") else 1
MAX_SEND_BYTES = 4 * 1024 * 1024  # what a client accepts by default; a page of 50 full playlists fits
DEFAULT_MS_PER_SECOND, MAX_MS_PER_SECOND = 5, 100  # PlayPlaylist: real milliseconds per second of music


# --- 1. the server factory ---------------------------------------------------------------------

def create_server(service: PlaylistService | None = None, workers: int = DEFAULT_WORKERS) -> grpc.Server:
    """The playlist service, health and reflection on one server; add ports, then start it."""
    service = service or PlaylistService()
    server = grpc.server(
        # A few threads: each call holds one, a stream for as long as it lasts.
        futures.ThreadPoolExecutor(max_workers=workers),
        # The first interceptor is the outermost: the call record sees authentication fail.
        interceptors=[CallRecord(SERVICE_NAME, status_for), Authentication(service)],
        options=[("grpc.max_receive_message_length", limits.MAX_BODY_BYTES),
                 ("grpc.max_send_message_length", MAX_SEND_BYTES)])
    playlist_pb2_grpc.add_PlaylistsServicer_to_server(Playlists(service, workers), server)
    checks = health.HealthServicer()
    for name in ("", SERVICE_NAME):  # "" is the server as a whole
        checks.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    # Reflection serves the proto's descriptors, so tools can call without a copy of the file.
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    return server


def tls_credentials(tls: Path) -> grpc.ServerCredentials:
    # require_client_auth: the handshake itself refuses a client without a certificate
    # signed by our demo CA, before any call is read.
    return grpc.ssl_server_credentials([((tls / "server.key").read_bytes(), (tls / "server.pem").read_bytes())],
                                       root_certificates=(tls / "ca.pem").read_bytes(), require_client_auth=True)


def serve(host: str, port: int, tls_port: int, settings: Settings, workers: int = DEFAULT_WORKERS,
          processes: int = DEFAULT_PROCESSES) -> None:
    """Serve from `processes` processes until SIGTERM or SIGINT."""
    address = f"[{host}]" if ":" in host else host  # an IPv6 address, e.g. [::1]:50051
    print(f"rpc: {address}:{port}" + (f" and {address}:{tls_port} (mutual TLS)" if tls_port else ""), flush=True)
    in_processes(serve_process, (address, port, tls_port, settings, workers), processes)


def serve_process(address: str, port: int, tls_port: int, settings: Settings, workers: int) -> None:
    """One process's server; on SIGTERM or SIGINT its calls in flight get GRACE_SECONDS to finish."""
    server = create_server(PlaylistService(settings), workers)
    server.add_insecure_port(f"{address}:{port}")
    if tls_port:
        server.add_secure_port(f"{address}:{tls_port}", tls_credentials(settings.tls))
    server.start()
    # stop() refuses new calls at once, and cancels those still running when the grace is over.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: server.stop(GRACE_SECONDS))
    parent = multiprocessing.parent_process()
    if parent:   # one of in_processes' children: it stops when its parent ends, even by SIGKILL
        threading.Thread(target=lambda: (parent.join(), server.stop(GRACE_SECONDS)), daemon=True).start()
    server.wait_for_termination()
    events.flush()   # the journal's last batch: a forked process ends without running atexit


def in_processes(target, args: tuple, processes: int) -> None:
    """Run target(*args) in `processes` processes that listen on the same ports; exit when one ends.

    grpcio runs every call of a process under its one GIL: a process uses about one core,
    however many threads it has. As gunicorn's workers do for REST and SOAP, several
    processes listen on the same port (SO_REUSEPORT, which grpcio sets on Linux), and the
    kernel hands each new connection to one of them. A connection stays with its process:
    every call of one channel is served by the same process."""
    if processes == 1:
        return target(*args)
    # Forked before any of them creates a server: grpcio's threads do not survive a fork.
    children = [multiprocessing.get_context("fork").Process(target=target, args=args, name=f"rpc-{n}")
                for n in range(1, processes + 1)]
    for child in children:
        child.start()

    def stop(*_):
        for child in children:
            if child.is_alive():
                child.terminate()   # SIGTERM: each stops as a single server does

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    multiprocessing.connection.wait([child.sentinel for child in children])
    stop()   # one process ended (a port it could not bind, a crash): the others go with it
    for child in children:
        child.join()
    raise SystemExit(max(abs(child.exitcode) for child in children))


# --- 2. authentication glue: lift the credential out of gRPC, hand it to the core --------------

def credential_from(context: grpc.ServicerContext):
    """x-api-key or authorization (Basic, Bearer) metadata, or the TLS client certificate."""
    metadata = dict(context.invocation_metadata())
    if "x-api-key" in metadata:
        return ApiKey(metadata["x-api-key"])
    if "authorization" in metadata:
        return credential_from_authorization(metadata["authorization"])
    # Only on the TLS port: the name in the certificate the handshake verified.
    names = context.auth_context().get("x509_common_name")
    return ClientCertificate(names[0].decode()) if names else None


class Authentication(grpc.ServerInterceptor):
    """Every call of the service asks the core who is calling, before the servicer runs.
    Health checks and reflection stay open, as load balancers and tools expect."""

    def __init__(self, service: PlaylistService):
        self.service = service
        self.handlers = {}  # method: its handler, wrapped at its first call (anew per call costs µs)

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or not details.method.startswith(f"/{SERVICE_NAME}/"):
            return handler
        if details.method not in self.handlers:
            self.handlers[details.method] = around(handler, self.authenticated)
        return self.handlers[details.method]

    def authenticated(self, behavior):
        def authenticate_then_behave(request, context):
            credential = credential_from(context)
            presented.set(credential)
            caller.set(Caller(self.service.authenticate(credential, peer_address(context)), credential))
            return behavior(request, context)
        return authenticate_then_behave


def identity() -> Identity:
    """The caller, as the Authentication interceptor found it."""
    return caller.get().identity


# --- 3. one handler per operation: request message -> core call -> response message ----------

# The catalog does not change while a server runs: each track's message is built once, on
# its first call, and copied into the answers that show it (nothing ever modifies it).
_track_messages: dict[str, pb.Track] = {}


def track_message(track: Track) -> pb.Track:
    message = _track_messages.get(track.id)
    if message is None:
        message = _track_messages[track.id] = pb.Track(**vars(track))
    return message


def timestamp(text: str) -> timestamp_pb2.Timestamp:
    """An ISO 8601 time as protobuf stores it: seconds since 1970 (UTC), not text."""
    # From the seconds: protobuf's own conversion of a datetime is Python code, a few µs a field.
    return timestamp_pb2.Timestamp(seconds=int(datetime.fromisoformat(text).timestamp()))


def playlist_message(playlist: Playlist) -> pb.Playlist:
    return pb.Playlist(**{**vars(playlist), "tracks": [track_message(t) for t in playlist.tracks],
                          "created_at": timestamp(playlist.created_at), "updated_at": timestamp(playlist.updated_at)})


def required(value, field: str):
    """proto3 cannot mark a field required: an unset one arrives as "" or 0."""
    if not value:
        raise invalid(field, "is required")
    return value


def changes(request: pb.UpdatePlaylistRequest) -> dict:
    """The fields the update_mask names or, without a mask, every field that is set."""
    changeable = ("name", "mood", "track_ids")
    paths = list(request.update_mask.paths) or [name for name in changeable if getattr(request, name)]
    unknown = [FieldViolation("update_mask", f"cannot change {p!r}; only {', '.join(changeable)}")
               for p in paths if p not in changeable]
    if unknown:
        raise InvalidArgument(*unknown)
    return {p: list(request.track_ids) if p == "track_ids" else getattr(request, p) for p in paths}


class StreamSlots:
    """A stream holds one of its process's threads for as long as it lasts. Streams may take
    every thread but one, so that no number of open streams can starve the other calls, and
    one user may take only limits.STREAMS_PER_USER of them, so that the rest stay for others.
    Each process counts its own: a channel's calls, its streams too, all go to one process."""

    def __init__(self, slots: int):
        self.slots = slots
        self.open = Counter()
        self.lock = threading.Lock()

    def take(self, user: str) -> None:
        with self.lock:
            if self.open[user] >= limits.STREAMS_PER_USER:
                raise RateLimited(f"you have {self.open[user]} stream(s) open, the most one user may hold; "
                                  "end one first", 5)
            if self.open.total() >= self.slots:
                raise RateLimited("every stream this server can hold is open; try again shortly", 5)
            self.open[user] += 1

    def give_back(self, user: str) -> None:
        with self.lock:
            self.open[user] -= 1


def holds_a_thread(stream):
    @functools.wraps(stream)
    def within_the_stream_slots(self, request, context):
        user = identity().user
        self.stream_slots.take(user)
        # Given back when the call ends, however it ends (grpcio may drop a cancelled stream unclosed).
        if not context.add_callback(functools.partial(self.stream_slots.give_back, user)):
            self.stream_slots.give_back(user)   # the call had already ended
        yield from stream(self, request, context)
    return within_the_stream_slots


class StreamIdle(ServiceError):
    """A bidirectional stream's client sent nothing for limits.STREAM_IDLE_SECONDS (gRPC only)."""
    kind = "deadline_exceeded"


def within_the_idle_deadline(requests):
    """The requests of a bidirectional stream, ending it with StreamIdle when the client says
    nothing for limits.STREAM_IDLE_SECONDS: a silent client would otherwise hold its thread
    forever. grpcio's request iterator cannot wait with a timeout, so a thread reads it."""
    arrived = queue.Queue()

    def read():
        try:
            for request in requests:
                arrived.put(request)
            arrived.put(None)
        except Exception as error:   # a cancel, or a message that does not decode
            arrived.put(error)

    threading.Thread(target=contextvars.copy_context().run, args=(read,), daemon=True).start()
    while True:
        try:
            request = arrived.get(timeout=limits.STREAM_IDLE_SECONDS)
        except queue.Empty:
            raise StreamIdle(f"no message for {limits.STREAM_IDLE_SECONDS} s: the stream is closed") from None
        if request is None:
            return
        if isinstance(request, Exception):
            raise request
        yield request


class Playlists(playlist_pb2_grpc.PlaylistsServicer):
    """The methods are named like the RPCs. They raise the core's errors as they come;
    the call record answers each with its status (part 4)."""

    def __init__(self, service: PlaylistService, workers: int = DEFAULT_WORKERS):
        self.service = service
        self.stream_slots = StreamSlots(max(1, workers - 1))

    def WhoAmI(self, request, context):
        return pb.User(**vars(self.service.who_am_i(identity())))

    def ListMoods(self, request, context):
        return pb.ListMoodsResponse(items=[pb.Mood(**vars(m)) for m in self.service.list_moods(identity())])

    def SearchTracks(self, request, context):
        page = self.service.search_tracks(identity(), request.mood, request.composer, request.era, request.text,
                                          request.page_size, request.page_token)
        return pb.SearchTracksResponse(items=map(track_message, page.items), next_page_token=page.next_page_token)

    def GetTrack(self, request, context):
        return track_message(self.service.get_track(identity(), required(request.id, "id")))

    def CreatePlaylist(self, request, context):
        return playlist_message(self.service.create_playlist(identity(), request.name, request.mood,
                                                             list(request.track_ids)))

    def GeneratePlaylist(self, request, context):
        return playlist_message(self.service.generate_playlist(identity(), request.mood, request.duration_minutes,
                                                               request.name))

    def GetPlaylist(self, request, context):
        return playlist_message(self.service.get_playlist(identity(), required(request.id, "id")))

    def ListPlaylists(self, request, context):
        page = self.service.list_playlists(identity(), request.page_size, request.page_token)
        return pb.ListPlaylistsResponse(items=map(playlist_message, page.items), next_page_token=page.next_page_token)

    def UpdatePlaylist(self, request, context):
        return playlist_message(self.service.update_playlist(
            identity(), required(request.id, "id"), request.version or None, **changes(request)))

    def AddTrack(self, request, context):
        return playlist_message(self.service.add_track(
            identity(), required(request.playlist_id, "playlist_id"), required(request.track_id, "track_id"),
            request.position, request.version or None))

    def RemoveTrack(self, request, context):
        return playlist_message(self.service.remove_track(
            identity(), required(request.playlist_id, "playlist_id"), request.position, request.version or None))

    def DeletePlaylist(self, request, context):
        self.service.delete_playlist(identity(), required(request.id, "id"), request.version or None)
        return empty_pb2.Empty()

    def Echo(self, request, context):
        # Binary metadata (keys ending in -bin) arrives as bytes; base64 is how it crossed the wire.
        headers = [(k, v if isinstance(v, str) else base64.b64encode(v).decode()) for k, v in
                   context.invocation_metadata()]
        received = self.service.echo(identity(), "grpc", f"/{SERVICE_NAME}/Echo", headers,
                                     text_format.MessageToString(request, as_utf8=True), caller.get().credential)
        return pb.EchoResponse(**{**vars(received), "headers": [pb.Header(**vars(h)) for h in received.headers]})

    @holds_a_thread
    def PlayPlaylist(self, request, context):
        playlist = self.service.get_playlist(identity(), required(request.id, "id"))
        ms_per_second = request.ms_per_second or DEFAULT_MS_PER_SECOND
        if not 1 <= ms_per_second <= MAX_MS_PER_SECOND:
            raise invalid("ms_per_second", f"must be between 1 and {MAX_MS_PER_SECOND}, or 0 for the default")
        # The callback runs when the call ends for any reason: a cancel, or a deadline
        # that passed, ends the wait at once instead of after the track.
        ended = threading.Event()
        context.add_callback(ended.set)
        elapsed = 0
        for position, track in enumerate(playlist.tracks, start=1):
            yield pb.PlayPlaylistResponse(position=position, of=len(playlist.tracks), elapsed_seconds=elapsed,
                                          track=track_message(track))
            if ended.wait(track.duration_seconds * ms_per_second / 1000):
                return
            elapsed += track.duration_seconds

    @holds_a_thread
    def MoodRadio(self, request_iterator, context):
        played = set()
        for count, request in enumerate(within_the_idle_deadline(request_iterator), start=1):
            if count > limits.MAX_STREAM_MESSAGES:
                raise TooLarge(f"a stream carries at most {limits.MAX_STREAM_MESSAGES} messages",
                               limits.MAX_STREAM_MESSAGES)
            tracks = self.service.radio_next(identity(), request.mood, played)
            played.update(t.id for t in tracks)
            yield pb.MoodRadioResponse(mood=request.mood, tracks=map(track_message, tracks))


# --- 4. error mapping: one core error, one status code, and the detail a client can act on ----

DOMAIN = "tri-protocol-playlists"


def bad_request(error: InvalidArgument):
    return error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
        for v in error.violations])


def version_conflict(error: Conflict):
    return error_details_pb2.ErrorInfo(reason="VERSION_CONFLICT", domain=DOMAIN,
                                       metadata={"current_version": str(error.current_version)})


def version_required(error: VersionRequired):
    return error_details_pb2.PreconditionFailure(violations=[error_details_pb2.PreconditionFailure.Violation(
        type="VERSION", subject="version", description=error.message)])


def retry_later(error: RateLimited):
    return error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=error.retry_after))


def over_limit(error: TooLarge):
    return error_details_pb2.ErrorInfo(reason="TOO_LARGE", domain=DOMAIN, metadata={"limit": str(error.limit)})


STATUS = {
    InvalidArgument: (grpc.StatusCode.INVALID_ARGUMENT, bad_request),
    Unauthenticated: (grpc.StatusCode.UNAUTHENTICATED, None),
    Forbidden: (grpc.StatusCode.PERMISSION_DENIED, None),
    NotFound: (grpc.StatusCode.NOT_FOUND, None),
    Conflict: (grpc.StatusCode.ABORTED, version_conflict),
    # An update without its version lacks a precondition the server requires (REST's 428):
    # FAILED_PRECONDITION, not ABORTED, which would mean "read again, then retry".
    VersionRequired: (grpc.StatusCode.FAILED_PRECONDITION, version_required),
    RateLimited: (grpc.StatusCode.RESOURCE_EXHAUSTED, retry_later),
    TooLarge: (grpc.StatusCode.RESOURCE_EXHAUSTED, over_limit),
    StreamIdle: (grpc.StatusCode.DEADLINE_EXCEEDED, None),   # the server's deadline, not the client's
}


def status_for(error: Exception) -> grpc.Status:
    """The status that answers an error.

    gRPC sends a status in trailers, HTTP/2 headers that follow the messages, because a
    stream can fail after it has sent some: the outcome is only known at the end. The
    google.rpc details travel in the `grpc-status-details-bin` trailer, as a serialized
    google.rpc.Status that every gRPC library can decode."""
    if type(error) not in STATUS:
        log.error("unexpected error", exc_info=error)  # the trace goes to the log, never to the client
        return rpc_status.to_status(status_pb2.Status(code=grpc.StatusCode.INTERNAL.value[0],
                                                      message="something went wrong on our side"))
    code, detail = STATUS[type(error)]
    status = status_pb2.Status(code=code.value[0], message=error.message)
    if detail:
        status.details.add().Pack(detail(error))
    return rpc_status.to_status(status)
