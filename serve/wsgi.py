"""Run a WSGI app the way many users are served: gunicorn, several worker processes.

The plain port and the mutual-TLS port are two gunicorn arbiters, because gunicorn
applies its TLS settings to every socket it binds. Both load the same app factory.
"""
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress

from gunicorn.app.base import BaseApplication
from gunicorn.workers import gthread

from core import events, limits
from core.config import load_settings

from . import lifecycle


class Worker(gthread.ThreadWorker):
    """gunicorn's thread worker, closing finished connections off its event loop.

    gunicorn closes a connection "gracefully" (RFC 9112 §9.6: send FIN, then wait up to 2 s
    for the client to hang up) on the one thread that serves every other connection of the
    worker: one client that never hangs up would stall them all."""

    def init_process(self):
        self.closer = ThreadPoolExecutor(max_workers=8, thread_name_prefix="close")
        super().init_process()

    def finish_request(self, conn, fs):
        try:
            keep_alive = fs.result() if not fs.cancelled() else False
        except Exception:
            keep_alive = False
        if keep_alive is False:
            self.nr_conns -= 1
            self.closer.submit(conn.close, graceful=True)
            return
        super().finish_request(conn, fs)

    def handle_exit(self, sig, frame):
        lifecycle.STOPPING.set()   # SIGTERM: long responses end now, not at the graceful timeout
        super().handle_exit(sig, frame)


def close_after_refusing_the_body(worker, req):
    """A body over the limit is refused unread, so the connection cannot carry another
    request: say so (Connection: close) rather than let the client send one into the void."""
    length = next((value for name, value in req.headers if name == "CONTENT-LENGTH"), "0")
    if length.isdigit() and int(length) > limits.MAX_BODY_BYTES:
        req.must_close = True


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
        return self.factory()


def _options(bind: str, name: str, workers: int, threads: int) -> dict:
    return {"bind": bind, "workers": workers, "threads": threads, "worker_class": Worker,
            "pre_request": close_after_refusing_the_body, "proc_name": name, "control_socket_disable": True,
            "loglevel": "warning", "graceful_timeout": 10, "accesslog": None}


def _tls_options(tls_dir, bind: str, name: str, workers: int, threads: int) -> dict:
    # CERT_REQUIRED (2): the handshake itself refuses a client without a certificate
    # signed by our demo CA, before any HTTP is read.
    return {**_options(bind, name + "-tls", workers, threads),
            "certfile": str(tls_dir / "server.pem"), "keyfile": str(tls_dir / "server.key"),
            "ca_certs": str(tls_dir / "ca.pem"), "cert_reqs": 2}


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


def run(factory, name: str, host: str, port: int, tls_port: int | None, tls_dir, workers: int = 2,
        threads: int = 4) -> None:
    """Serve `factory()` on host:port, and with mutual TLS on host:tls_port; block until stopped."""
    arbiter, child = os.getpid(), 0
    if tls_port:
        child = os.fork()
        if child == 0:
            _run_and_exit(factory, _tls_options(tls_dir, _bind(host, tls_port), name, workers, threads))
    try:
        _Gunicorn(factory, _options(_bind(host, port), name, workers, threads)).run()
    finally:
        # gunicorn forks its workers inside run(): when a worker exits it passes through
        # here too, and only the arbiter that started the TLS one may stop it.
        if child and os.getpid() == arbiter:
            with suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)
                os.waitpid(child, 0)
