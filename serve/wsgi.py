"""Run a WSGI app the way many users are served: gunicorn, several worker processes.

Each worker is gevent's: one process serves every connection on greenlets, so a client that
sends its request (or its TLS handshake) slowly holds a few kilobytes, never a request
thread, and both have a deadline. With threads, a few dozen such clients ("slowloris") held
every thread of the server and no valid call got an answer.

The plain port and the mutual-TLS port are two gunicorn arbiters, because gunicorn
applies its TLS settings to every socket it binds. Both load the same app factory.
"""
import logging
import os
import signal
import ssl
import sys
import weakref
from contextlib import contextmanager, suppress

import gevent
from gevent import monkey
from gunicorn.app.base import BaseApplication
from gunicorn.workers.ggevent import GeventWorker

from core import events, limits
from core.config import load_settings

from . import lifecycle

HANDSHAKE_SECONDS = 5   # a TLS client must finish its handshake within this
HEADERS_SECONDS = 5     # and send a request's line and headers within this, once ready
CONNECTIONS = 1000      # connections one worker holds at once (gevent's default)


class Worker(GeventWorker):
    """gunicorn's gevent worker, with a deadline on the TLS handshake.

    gevent would run the handshake as soon as it accepts, with no deadline: `_handshake_later`
    defers it to here, where it gets one. The headers' deadline is gunicorn's own: it waits
    `keepalive` seconds for each request's head, the first one included."""

    def handle(self, listener, client, addr):
        if isinstance(client, ssl.SSLSocket):
            try:
                with gevent.Timeout(HANDSHAKE_SECONDS):
                    client.do_handshake()
            except (gevent.Timeout, OSError):
                client.close()
                return
        super().handle(listener, client, addr)

    def init_process(self):
        self.waiting = set()              # greenlets waiting for their connection's next request
        self.served = weakref.WeakSet()   # greenlets whose connection has had a request already
        super().init_process()

    @contextmanager
    def timeout_ctx(self):
        """Wait `keepalive` seconds for a connection's next request; once stopping, one that has
        had its answers waits no more."""
        connection = gevent.getcurrent()
        self.waiting.add(connection)
        try:
            with gevent.Timeout(0 if connection in self.served and not self.alive else self.cfg.keepalive, False):
                yield
        finally:
            self.waiting.discard(connection)
            self.served.add(connection)

    def handle_exit(self, sig, frame):
        """SIGTERM: finish the calls under way, but hold nothing that merely waits. Long responses
        (a live view's stream) end now, and idle keep-alive connections (a browser keeps some
        open for its next request) close, rather than hold the shutdown for seconds."""
        lifecycle.STOPPING.set()
        super().handle_exit(sig, frame)
        # A first request may still be arriving within its wait: only the connections between
        # requests, which have had their answers, are closed.
        for connection in self.waiting & set(self.served):
            connection.kill(block=False)


def _handshake_later(config, default_context):
    """gunicorn's TLS context, wrapping accepted sockets without shaking hands yet."""
    return _DeferredHandshake(default_context())


class _DeferredHandshake:
    def __init__(self, context: ssl.SSLContext):
        self.context = context

    def wrap_socket(self, sock, **options):
        return self.context.wrap_socket(sock, **{**options, "do_handshake_on_connect": False})


def close_after_refusing_the_body(worker, req):
    """A body over the limit is refused unread, so the connection cannot carry another
    request: say so (Connection: close) rather than let the client send one into the void."""
    length = next((value for name, value in req.headers if name == "CONTENT-LENGTH"), "0")
    if length.isdigit() and int(length) > limits.MAX_BODY_BYTES:
        req.must_close = True


def write_the_journal(arbiter, worker):
    """A stopping worker writes the call journal's last batch (os._exit, below, skips atexit)."""
    events.flush()


class _Gunicorn(BaseApplication):
    def __init__(self, factory, options: dict):
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        events.configure(load_settings())
        return no_sniffing(self.factory())


def no_sniffing(app):
    """The app, whose every answer (API, page, WSDL, fault) tells browsers to take it as the type
    it says it is: a JSON or XML answer is never run as a script or shown as a page, whatever
    text a caller managed to put into it."""
    def with_the_header(environ, start_response):
        def start(status, headers, exc_info=None):
            return start_response(status, [*headers, ("X-Content-Type-Options", "nosniff")], exc_info)
        return app(environ, start)
    return with_the_header


def _options(bind: str, name: str, workers: int) -> dict:
    return {"bind": bind, "workers": workers, "worker_class": Worker, "worker_connections": CONNECTIONS,
            "keepalive": HEADERS_SECONDS, "pre_request": close_after_refusing_the_body,
            "worker_exit": write_the_journal, "proc_name": name,
            "control_socket_disable": True, "loglevel": "warning", "graceful_timeout": 10, "accesslog": None}


def _tls_options(tls_dir, bind: str, name: str, workers: int) -> dict:
    # CERT_REQUIRED (2): the handshake itself refuses a client without a certificate
    # signed by our demo CA, before any HTTP is read.
    return {**_options(bind, name + "-tls", workers),
            "certfile": str(tls_dir / "server.pem"), "keyfile": str(tls_dir / "server.key"),
            "ca_certs": str(tls_dir / "ca.pem"), "cert_reqs": 2, "ssl_context": _handshake_later}


def client_certificate_name(environ) -> str | None:
    """The CN of the client certificate the TLS handshake verified, or None on the plain port.

    Gunicorn does not put the certificate in the WSGI environ; its socket does have it."""
    sock = environ.get("gunicorn.socket")
    certificate = sock.getpeercert() if hasattr(sock, "getpeercert") else None
    for part in (certificate or {}).get("subject", ()):
        for key, value in part:
            if key == "commonName":
                return value
    return None


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _run_and_exit(factory, options: dict):
    """Run an arbiter in this forked process. It, and every worker it forks, ends here."""
    code = 1
    try:
        _Gunicorn(factory, options).run()
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run(factory, name: str, host: str, port: int, tls_port: int | None, tls_dir, workers: int = 2) -> None:
    """Serve `factory()` on host:port, and with mutual TLS on host:tls_port; block until stopped."""
    if not monkey.is_module_patched("threading"):
        raise RuntimeError("import serve.green first, before anything else (see serve/green.py)")
    arbiter, child = os.getpid(), 0
    if tls_port:
        child = os.fork()
        if child == 0:
            _run_and_exit(factory, _tls_options(tls_dir, _bind(host, tls_port), name, workers))
    try:
        _Gunicorn(factory, _options(_bind(host, port), name, workers)).run()
    finally:
        # gunicorn forks its workers inside run(): when a worker exits it passes through
        # here too, and only the arbiter that started the TLS one may stop it.
        if child and os.getpid() == arbiter:
            with suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)
                os.waitpid(child, 0)
