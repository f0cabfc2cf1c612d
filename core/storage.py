"""SQLite storage shared by three server processes: WAL, and connections lent one at a time."""
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path

SCHEMA = Path(__file__).with_name("schema.sql")


class Database:
    """Lends connections: `connection()` for a statement or two, `write()` and `read()` for transactions.

    A connection is never used by two calls at once, and is kept for the next one: opening
    one and its first query cost 85–170 µs, about half of a whole call. The idle ones wait
    in a list, whose pop() and append() are atomic for threads and never switch greenlets,
    so the same code serves gRPC's thread pool and gunicorn's gevent workers, where a
    per-thread connection would become one per greenlet, that is per client connection.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._idle = []
        self._pid = os.getpid()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we open every transaction ourselves. Python's implicit
        # transactions start DEFERRED, and a deferred read-then-write fails with
        # "database is locked" as soon as another process writes. check_same_thread=False:
        # the connection moves between threads, never used by two at once.
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=10, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")      # readers never wait for the writer
        conn.execute("PRAGMA synchronous = NORMAL")    # safe with WAL; durable at checkpoints
        conn.execute("PRAGMA busy_timeout = 10000")    # wait for the lock instead of failing
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def connection(self) -> "Lent":
        """A connection of our own until the block ends; each statement is its own snapshot."""
        return Lent(self)

    def lend(self) -> sqlite3.Connection:
        if self._pid != os.getpid():    # a forked worker never uses its parent's connections
            self._idle, self._pid = [], os.getpid()
        try:
            return self._idle.pop()
        except IndexError:
            return self._connect()

    def take_back(self, conn: sqlite3.Connection) -> None:
        self._idle.append(conn)

    @contextmanager
    def write(self):
        """A write transaction: BEGIN IMMEDIATE takes the write lock up front, so two
        servers updating the same playlist serialise instead of losing an update."""
        with self.connection() as conn:
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
        with self.connection() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def create_schema(self) -> None:
        with self.connection() as conn:
            conn.executescript(SCHEMA.read_text())


class Lent:
    """`with db.connection() as conn`: lends a connection, takes it back when the block ends.
    A class, not a @contextmanager generator: several run in every call, and it costs less."""

    def __init__(self, db: Database):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.conn = self.db.lend()
        return self.conn

    def __exit__(self, *error) -> None:
        self.db.take_back(self.conn)
