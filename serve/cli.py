"""The command line the three servers share: --host, --port, --tls-port, --db, --workers."""
import argparse
import os

from core.config import Settings, check_unsafe_allowed, load_settings


def parser(prog: str, description: str, port: int, tls_port: int, workers: int, workers_help: str):
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=port, help=f"plain (unencrypted) port (default {port})")
    p.add_argument("--tls-port", type=int, default=tls_port, help=f"mutual-TLS port (default {tls_port}; 0 = off)")
    p.add_argument("--db", help="SQLite database (default $PLAYLISTS_HOME/playlists.sqlite3)")
    p.add_argument("--workers", type=int, default=workers, help=f"{workers_help} (default {workers})")
    return p


def settings(args) -> Settings:
    """The settings for these arguments. They go through the environment, because gunicorn's
    workers are fresh processes that read their settings from it."""
    if args.db:
        os.environ["PLAYLISTS_DB"] = args.db
    settings = load_settings()
    check_unsafe_allowed(settings, [args.host])
    return settings
