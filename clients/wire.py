"""What really crossed the wire for HTTP clients (requests): the bytes, tapped at the socket.

Nothing is re-rendered from request objects: the tap sits between the HTTP library and
the socket (after TLS, so an https call shows the same plain HTTP/1.1 text) and keeps a
copy of every byte sent and received.
"""
import io

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class Tap:
    """The bytes of the exchanges since the last `clear()`."""

    def __init__(self):
        self.sent = bytearray()
        self.received = bytearray()

    def clear(self) -> None:
        self.sent.clear()
        self.received.clear()


class _TappedSocket:
    def __init__(self, sock, tap: Tap):
        self._sock, self._tap = sock, tap

    def sendall(self, data):
        self._tap.sent += data
        return self._sock.sendall(data)

    def send(self, data):
        sent = self._sock.send(data)
        self._tap.sent += bytes(data[:sent])
        return sent

    def recv_into(self, buffer, nbytes=0):
        count = self._sock.recv_into(buffer, nbytes)
        self._tap.received += bytes(memoryview(buffer)[:count])
        return count

    def makefile(self, mode="rb", buffering=-1, **_):
        # http.client reads the response through makefile(): route that through the tap too.
        return io.BufferedReader(_TappedReader(self))

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _TappedReader(io.RawIOBase):
    def __init__(self, sock):
        self._sock = sock

    def readable(self):
        return True

    def readinto(self, buffer):
        return self._sock.recv_into(buffer)


def tapped_session(tap: Tap) -> requests.Session:
    """A requests Session whose every connection copies its bytes into `tap`."""
    def tapped(connection_class):
        class Tapped(connection_class):
            def connect(self):
                super().connect()
                self.sock = _TappedSocket(self.sock, tap)
        return Tapped

    class Plain(HTTPConnectionPool):
        ConnectionCls = tapped(HTTPConnection)

    class Secure(HTTPSConnectionPool):
        ConnectionCls = tapped(HTTPSConnection)

    adapter = HTTPAdapter()
    adapter.poolmanager.pool_classes_by_scheme = {"http": Plain, "https": Secure}
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def show(tap: Tap, out) -> None:
    """Print the exchange like `curl -v`: '>' for what we sent, '<' for what came back."""
    for marker, data in ((">", tap.sent), ("<", tap.received)):
        head, _, body = bytes(data).partition(b"\r\n\r\n")
        for line in head.decode("latin-1").split("\r\n"):
            out.write(f"{marker} {line}\n")
        out.write(f"{marker}\n")
        if body:
            text = body.decode("utf-8", errors="replace")
            out.write(text if text.endswith("\n") else text + "\n")
        out.write("\n")
