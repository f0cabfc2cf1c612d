"""Interceptors: code that runs around every call, as middleware does in a web framework.

grpcio shows an interceptor only the method's name and the metadata, and lets it swap
the method's handler for another. To act on the call itself (its peer, its TLS identity,
its deadline, its outcome) an interceptor wraps the handler's behavior; `around` does
that for any of the four kinds of RPC.
"""
import functools
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import unquote

import grpc
from google.protobuf.message import DecodeError

from core import events
from core.auth import Caller
from core.errors import ServiceError, invalid

DEADLINE_SLACK = 0.25   # seconds: how much earlier than the server a client may see its deadline pass
_KINDS = {(False, False): "unary_unary", (False, True): "unary_stream",
          (True, False): "stream_unary", (True, True): "stream_stream"}


def around(handler: grpc.RpcMethodHandler, wrap, request_deserializer=None) -> grpc.RpcMethodHandler:
    """The same handler with its behavior wrapped by `wrap` (and perhaps another request decoder)."""
    kind = _KINDS[handler.request_streaming, handler.response_streaming]
    return getattr(grpc, f"{kind}_rpc_method_handler")(
        wrap(getattr(handler, kind)), request_deserializer=request_deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer)


# Who is calling, for the servicer and the call record. grpcio runs every call, its
# interceptors included, in a contextvars.Context of its own: what one call sets here
# no other call sees, not even one that later runs on the same thread.
caller: ContextVar[Caller] = ContextVar("caller")
presented: ContextVar[object] = ContextVar("presented", default=None)   # the credential, for the record


@dataclass(frozen=True)
class Undecodable:
    """Stands in for a request message whose bytes could not be decoded."""
    reason: str


def decoded(request):
    if isinstance(request, Undecodable):
        raise invalid("request", f"cannot be decoded: {request.reason}")
    return request


@functools.cache   # a few names, asked on every call
def snake_case(rpc_name: str) -> str:
    """'CreatePlaylist' -> 'create_playlist': the core operation's name."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", rpc_name).lower()


def peer_address(context: grpc.ServicerContext) -> str:
    """'ipv4:127.0.0.1:51234' or 'ipv6:%5B::1%5D:51234' -> '127.0.0.1' or '::1'."""
    return unquote(context.peer()).partition(":")[2].rpartition(":")[0].strip("[]")


class CallRecord(grpc.ServerInterceptor):
    """Around every call of one service: count its bytes, time it, answer a core error
    with its gRPC status (`status_for`), and record one CallEvent when it is over.

    The hook is an interceptor because grpcio has no "after the answer" hook: wrapping each
    call's behavior is the one place that sees it end, however it ends (a stream may fail
    after some messages, or be cancelled). It answers errors too, since it is where they
    surface; the mapping itself (`status_for`) stays in rpc/server.py, with the servicer."""

    def __init__(self, service_name: str, status_for):
        self.prefix = f"/{service_name}/"
        self.status_for = status_for

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or not details.method.startswith(self.prefix):
            return handler  # unknown methods (UNIMPLEMENTED), health and reflection pass by
        call = Call(snake_case(details.method.removeprefix(self.prefix)), handler, self.status_for,
                    client=dict(details.invocation_metadata).get("user-agent", ""))

        def wrap(behavior):
            def unary(request, context):
                error = None
                try:
                    response = call.start(behavior, request, context)
                    call.bytes_out = response.ByteSize()
                    return response
                except Exception as caught:
                    error = caught
                finally:
                    call.finish(context, error)

            def streaming(request, context):
                error = None
                try:
                    for response in call.start(behavior, request, context):
                        call.bytes_out += response.ByteSize()  # exactly the encoded length
                        yield response
                except Exception as caught:
                    error = caught
                finally:  # also when grpcio drops the stream because the client went away
                    call.finish(context, error)

            return streaming if handler.response_streaming else unary

        return around(handler, wrap, request_deserializer=call.decode)


class Call:
    """One call's bookkeeping, from its arrival to its record."""

    def __init__(self, operation: str, handler: grpc.RpcMethodHandler, status_for, client: str):
        self.operation = operation
        self.client = client
        self.handler = handler
        self.status_for = status_for
        self.started = time.perf_counter()
        self.bytes_in = self.bytes_out = 0

    def decode(self, data: bytes):
        self.bytes_in += len(data)
        try:
            return self.handler.request_deserializer(data)
        except DecodeError as error:
            # grpcio answers a decoder's exception with INTERNAL, as if the server were at
            # fault; a marker lets the call answer INVALID_ARGUMENT instead.
            return Undecodable(str(error))

    def start(self, behavior, request, context):
        """Run the behavior (authentication, then the servicer) on the decoded request(s)."""
        if self.handler.request_streaming:
            return behavior((decoded(r) for r in request), context)
        return behavior(decoded(request), context)

    def finish(self, context, error: Exception | None) -> None:
        """Record the call; answer an error with its status (which raises, ending the call)."""
        status = None
        if not context.is_active():
            # Cancelled by the client, or its deadline passed: no one will read an answer. A client
            # whose deadline passes cancels the call too, a moment before the server's own copy of
            # the deadline (it started when the request arrived) runs out: nearly none left is the deadline.
            remaining = context.time_remaining()
            code = (grpc.StatusCode.DEADLINE_EXCEEDED if remaining is not None and remaining < DEADLINE_SLACK
                    else grpc.StatusCode.CANCELLED)
            outcome, reason = code.name.lower(), "the client stopped waiting"
        elif error is None:
            code, outcome, reason = grpc.StatusCode.OK, "ok", ""
        else:
            status = self.status_for(error)
            code = status.code
            outcome, reason = ((error.kind, error.message) if isinstance(error, ServiceError)
                               else ("internal", type(error).__name__))
        identity = caller.get().identity if caller.get(None) else None
        events.record(events.call_event("grpc", self.operation, identity, outcome, code.name, self.bytes_in,
                                        self.bytes_out, self.started, reason, self.client, peer_address(context),
                                        presented.get()))
        if status:
            context.abort_with_status(status)
        elif error is not None:
            context.abort(code, reason)  # nothing is sent; it only keeps grpcio from logging the error
