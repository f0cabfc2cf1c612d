"""Every cap and limit of the service, in one place, and the shared rate limiter.

The contracts state the same numbers: soap/types.py builds the WSDL's facets from these,
and tests/test_limits.py checks the OpenAPI document, the WSDL and the core against them.
"""
import time

MAX_BODY_BYTES = 64 * 1024          # a request body (JSON, XML envelope or protobuf message)
MAX_PAGE_SIZE = 50
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_TOKEN_LENGTH = 200
MAX_ID_LENGTH = 64                  # a track's or a playlist's id
MAX_NAME_LENGTH = 100               # playlist names
MAX_MOOD_LENGTH = 40                # a mood's name
MAX_QUERY_LENGTH = 100              # free-text search and filters
MAX_TRACKS_PER_PLAYLIST = 100
MAX_GENERATE_MINUTES = 600
MAX_STREAM_MESSAGES = 200           # what one streaming call may send or receive
STREAMS_PER_USER = 1                # gRPC streams one user may hold open at once (of the server's few)
STREAM_IDLE_SECONDS = 10            # a bidirectional stream whose client sends nothing for this long ends

# Failed logins: after this many in a row, a user (or a source address) must wait,
# 1 s, then 2 s, 4 s ... up to LOCKOUT_MAX_SECONDS, before the next attempt is even checked.
LOCKOUT_AFTER_FAILURES = 5
SOURCE_LOCKOUT_AFTER_FAILURES = 20
LOCKOUT_MAX_SECONDS = 300
FAILURES_FORGOTTEN_AFTER = 900      # failures older than 15 minutes no longer count


def lockout_seconds(failures: int, threshold: int) -> int:
    """How long to wait after `failures` consecutive failures (0 below the threshold)."""
    if failures < threshold:
        return 0
    return min(2 ** (failures - threshold), LOCKOUT_MAX_SECONDS)


def hit(db, key: str, limit: int, window: int, now: float | None = None) -> int:
    """Count one call for `key` in the current fixed window; return seconds to wait, 0 if allowed.

    The counter lives in the shared SQLite database, so the REST, SOAP and gRPC servers
    (separate processes) share one budget: switching protocol does not escape a limit.
    """
    now = time.time() if now is None else now
    start = int(now // window) * window
    with db.write() as conn:
        conn.execute("DELETE FROM rate_counters WHERE window_start < ?", (start,))
        (count,) = conn.execute(
            "INSERT INTO rate_counters (key, window_start, count) VALUES (?, ?, 1) "
            "ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1 RETURNING count",
            (f"{key}/{window}s", start),
        ).fetchone()
    return 0 if count <= limit else max(1, int(start + window - now + 0.999))
