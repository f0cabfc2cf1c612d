"""Run a WSGI app the way many users are served: gunicorn, several worker processes.

The plain port and the mutual-TLS port are two gunicorn arbiters, because gunicorn
applies its TLS settings to every socket it binds. Both load the same app factory.
"""
import multiprocessing
import os
import signal

from gunicorn.app.base import BaseApplication

from core import events
from core.config import load_settings


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
    return {"bind": bind, "workers": workers, "threads": threads, "worker_class": "gthread",
            "proc_name": name, "control_socket_disable": True, "loglevel": "warning",
            "graceful_timeout": 10, "accesslog": None}


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


def _run_tls(factory, options):
    _Gunicorn(factory, options).run()


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run(factory, name: str, host: str, port: int, tls_port: int | None, tls_dir, workers: int = 2,
        threads: int = 4) -> None:
    """Serve `factory()` on host:port, and with mutual TLS on host:tls_port; block until stopped.

    `factory` must be importable by name (a module-level function): the TLS arbiter is a
    fresh process that imports it again."""
    child, arbiter = None, os.getpid()
    if tls_port:
        options = _tls_options(tls_dir, _bind(host, tls_port), name, workers, threads)
        child = multiprocessing.get_context("spawn").Process(target=_run_tls, args=(factory, options), daemon=False)
        child.start()
    try:
        _Gunicorn(factory, _options(_bind(host, port), name, workers, threads)).run()
    finally:
        # gunicorn forks its workers inside run(): when a worker exits it passes through
        # here too, and only the arbiter that started the TLS child may stop it.
        if child and os.getpid() == arbiter and child.is_alive():
            os.kill(child.pid, signal.SIGTERM)
            child.join(15)
