"""The command line the three servers share: --host, --port, --tls-port, --db, --workers."""
import argparse
import os

from core import config
from core.config import Settings, check_unsafe_allowed, load_settings


def parser(prog: str, description: str, server: str, workers: int, workers_help: str):
    """`server` is "REST", "SOAP" or "GRPC": its ports default to $PLAYLISTS_<server>_PORT and _TLS_PORT."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    host, port, tls_port = config.host(), config.port(server), config.port(server + "_TLS")
    p.add_argument("--host", default=host, help=f"address to bind (default $PLAYLISTS_HOST or {host})")
    p.add_argument("--port", type=int, default=port,
                   help=f"plain (unencrypted) port (default $PLAYLISTS_{server}_PORT or {port})")
    p.add_argument("--tls-port", type=int, default=tls_port,
                   help=f"mutual-TLS port (default $PLAYLISTS_{server}_TLS_PORT or {tls_port}; 0 = off)")
    p.add_argument("--db", help="SQLite database (default $PLAYLISTS_HOME/playlists.sqlite3)")
    p.add_argument("--workers", type=positive, default=workers, help=f"{workers_help} (default {workers})")
    return p


def positive(text: str) -> int:
    """An argparse type: a whole number, at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def settings(args) -> Settings:
    """The settings for these arguments. They go through the environment, because gunicorn's
    workers are fresh processes that read their settings from it."""
    if args.db:
        os.environ["PLAYLISTS_DB"] = args.db
    settings = load_settings()
    check_unsafe_allowed(settings, [args.host])
    return settings
