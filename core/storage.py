"""SQLite storage shared by three server processes: WAL, one connection per thread."""
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

SCHEMA = Path(__file__).with_name("schema.sql")


class Database:
    """Hands each thread its own connection; `write()` and `read()` are its transactions."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: we open every transaction ourselves. Python's implicit
            # transactions start DEFERRED, and a deferred read-then-write fails with
            # "database is locked" as soon as another process writes.
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")      # readers never wait for the writer
            conn.execute("PRAGMA synchronous = NORMAL")    # safe with WAL; durable at checkpoints
            conn.execute("PRAGMA busy_timeout = 10000")    # wait for the lock instead of failing
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self):
        """A write transaction: BEGIN IMMEDIATE takes the write lock up front, so two
        servers updating the same playlist serialise instead of losing an update."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def read(self):
        """A read transaction: every query inside sees the same snapshot."""
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def create_schema(self) -> None:
        self.connection().executescript(SCHEMA.read_text())
