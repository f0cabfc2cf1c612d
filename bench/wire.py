"""Bytes on the wire, counted the same way for all three protocols: by a loopback TCP relay.

The client talks to the relay, the relay to the server, and it counts every byte it copies
in each direction. That is everything the protocols put on the TCP connection: HTTP/1.1
request lines, headers and bodies for REST and SOAP; HTTP/2 frames, HPACK-compressed
headers, gRPC's 5-byte message prefixes and trailers for gRPC. (Not counted: TCP/IP
headers, the same ~66 bytes per packet for everyone.) The figure is the average of many
calls on one warm connection, the way a long-lived client sees it: HPACK, for one, sends
a repeated header as a 1-byte index after the first call.
"""
import socket
import threading
import time
from dataclasses import dataclass

import grpc

from .calls import grpc_caller, http_caller

CALLS = 20


@dataclass(frozen=True)
class WireBytes:
    request: float   # bytes client -> server per call
    response: float  # bytes server -> client per call


class CountingRelay:
    """A TCP relay on a free loopback port that counts what it copies, both ways."""

    def __init__(self, target: str):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.sent = self.received = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sockets = [self._listener]
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.sent = self.received = 0

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(self.target)
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, "sent"), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, "received"), daemon=True).start()

    def _pump(self, source, destination, counter: str) -> None:
        try:
            while data := source.recv(65536):
                # Counted before it is passed on: when the client has its answer, it is counted.
                with self._lock:
                    setattr(self, counter, getattr(self, counter) + len(data))
                destination.sendall(data)
            destination.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # one side closed: the relay's work on this connection is done

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()


def measure(protocol: str, op: str, address: str, fixture: dict, calls: int = CALLS) -> WireBytes:
    """Average bytes per call of `op`, after one call that opens and warms the connection."""
    relay = CountingRelay(address)
    channel = grpc.insecure_channel(relay.address) if protocol == "grpc" else None
    one_call = grpc_caller(channel, op, fixture) if channel else http_caller(protocol, op, relay.address, fixture)
    try:
        one_call()
        time.sleep(0.05)  # let HTTP/2's housekeeping frames after the first call pass
        relay.reset()
        for _ in range(calls):
            one_call()
        time.sleep(0.05)
        return WireBytes(relay.sent / calls, relay.received / calls)
    finally:
        one_call.close()
        if channel:
            channel.close()
        relay.close()
