"""The service: every operation of the contract, as one method taking the caller's Identity.

REST, SOAP and gRPC call these methods and nothing else. Each method validates what the
wire schema cannot express, checks ownership and scope, and returns plain model objects.
"""
import json
import logging
import random
import re
import secrets
from datetime import datetime, timezone

import orjson

from . import events, limits, pagination
from .auth import ALL_SCOPES, READ, WRITE, Authenticator, Identity, secrets_of
from .config import Settings, load_settings
from .errors import (Conflict, FieldViolation, InvalidArgument, NotFound, OAuthError, TooLarge, VersionRequired,
                     at_most_characters, integer_between, invalid)
from .model import Echo, Header, Mood, Page, Playlist, Track, User
from .scan import sensitive_kind
from .storage import Database

REDACTED = "[redacted]"
WITHHELD = "[withheld: sensitive data]"
CREDENTIAL_HEADERS = {"authorization", "x-api-key", "proxy-authorization", "cookie"}
# Characters no text field may hold: control characters, lone surrogates (no encoding can
# store them) and the noncharacters U+FFFE and U+FFFF (XML 1.0 cannot carry them, so SOAP
# could not answer with a playlist so named).
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
log = logging.getLogger("core")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def literal(text: str) -> str:
    """Text for a LIKE pattern that matches itself: '%' and '_' are no wildcards in a search."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _quoted(value: str) -> str:
    """A value for an error message: quoted, unless it looks like sensitive data, which is never repeated."""
    kind = sensitive_kind(value)
    return f"(a value that looks like a {kind}: not repeated)" if kind else repr(value)


def _check_id(field: str, value: str) -> None:
    """An id longer than any id can be is a malformed request, not a question whether it exists."""
    if len(value) > limits.MAX_ID_LENGTH:
        raise invalid(field, at_most_characters(limits.MAX_ID_LENGTH))


def _track(row) -> Track:
    return Track(id=row["id"], title=row["title"], composer=row["composer"], work=row["work"],
                 era=row["era"], year=row["year"], duration_seconds=row["duration_seconds"],
                 key=row["key"], tempo_bpm=row["tempo_bpm"], moods=json.loads(row["moods"]))


class PlaylistService:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or load_settings()
        if not self.settings.database.exists():
            raise SystemExit(f"no database at {self.settings.database}: run `make setup` first")
        self.db = Database(self.settings.database)
        keys = self.settings.keys
        self.auth = Authenticator(self.db, (keys / "token-signing.key").read_bytes(), self.settings)
        self._page_key = (keys / "page-token.key").read_bytes()
        self.defences = self.auth.defences
        with self.db.read() as conn:
            self.moods = [Mood(r["name"], r["description"])
                          for r in conn.execute("SELECT * FROM moods ORDER BY position")]
            self.eras = [r[0] for r in conn.execute("SELECT era FROM tracks GROUP BY era ORDER BY MIN(year)")]
            # The catalog does not change while a server runs: each Track is built once, here,
            # not from its row (and its JSON list of moods) on every call that shows it.
            self.tracks = {r["id"]: _track(r) for r in conn.execute("SELECT * FROM tracks")}

    def authenticate(self, credential, source: str) -> Identity:
        """The single authentication entry point for all three protocols."""
        return self.auth.authenticate(credential, source)

    def refused_unread(self, source: str) -> None:
        """A call refused before its credential was read (a body that is no message, say)
        counts against its address, like any call without a valid credential."""
        self.auth.limit(f"source:{source}")

    def issue_token(self, grant_type: str, client_id: str, client_secret: str, scope: str, source: str) -> dict:
        """OAuth 2.0 client-credentials grant (RFC 6749 §4.4): a short-lived signed JWT."""
        if grant_type != "client_credentials":
            raise OAuthError("unsupported_grant_type", "only grant_type=client_credentials is supported")
        requested = tuple(scope.split()) if scope else ALL_SCOPES
        if not set(requested) <= set(ALL_SCOPES):
            raise OAuthError("invalid_scope", f"scopes are {' '.join(ALL_SCOPES)}")
        # A client secret is long and random, like an API key: no lockout, the rate limit bounds guessing.
        user = self.auth.client_user(client_id, client_secret)
        if user is None:
            self.auth.limit(f"source:{source}")
            raise OAuthError("invalid_client", "unknown client or wrong secret")
        self.auth.limit(f"user:{user}", user)   # a flood of token requests spends the same budget as calls
        return {"access_token": self.auth.issue_token(user, requested), "token_type": "Bearer",
                "expires_in": self.settings.token_seconds, "scope": " ".join(requested)}

    # --- the catalog ------------------------------------------------------------------

    def who_am_i(self, identity: Identity) -> User:
        return User(identity.user, identity.method, sorted(identity.scopes))

    def list_moods(self, identity: Identity) -> list[Mood]:
        identity.require(READ)
        return list(self.moods)

    def search_tracks(self, identity: Identity, mood: str = "", composer: str = "", era: str = "",
                      text: str = "", page_size: int | None = None, page_token: str = "") -> Page:
        identity.require(READ)
        self._check_mood("mood", mood)
        if era and era.lower() not in {e.lower() for e in self.eras}:
            raise invalid("era", f"must be one of {', '.join(self.eras)}")
        for name, value in (("composer", composer), ("text", text)):
            self._check_text(identity, name, value, required=False, limit=limits.MAX_QUERY_LENGTH)
        size = pagination.page_size(page_size)
        query = {"mood": mood, "composer": composer, "era": era, "text": text}
        offset = pagination.decode(self._page_key, page_token, query)
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM tracks"
                " WHERE (:mood = '' OR EXISTS (SELECT 1 FROM json_each(moods) WHERE value = :mood))"
                " AND (:composer = '' OR composer LIKE '%' || :composer_like || '%' ESCAPE '\\')"
                " AND (:era = '' OR era = :era COLLATE NOCASE)"
                " AND (:text = '' OR title LIKE '%' || :text_like || '%' ESCAPE '\\'"
                "      OR work LIKE '%' || :text_like || '%' ESCAPE '\\'"
                "      OR composer LIKE '%' || :text_like || '%' ESCAPE '\\')"
                " ORDER BY position LIMIT :limit OFFSET :offset",
                {**query, "composer_like": literal(composer), "text_like": literal(text), "limit": size + 1,
                 "offset": offset}).fetchall()
        return self._page([self.tracks[r["id"]] for r in rows], size, offset, query)

    def get_track(self, identity: Identity, track_id: str) -> Track:
        identity.require(READ)
        _check_id("track_id", track_id)
        track = self.tracks.get(track_id)
        if track is None:
            raise NotFound(f"no track with id {_quoted(track_id)}")
        return track

    # --- playlists --------------------------------------------------------------------

    def create_playlist(self, identity: Identity, name: str, mood: str = "", track_ids=()) -> Playlist:
        identity.require(WRITE)
        name = self._check_text(identity, "name", name)
        self._check_mood("mood", mood)
        self._check_track_ids(track_ids)
        return self._insert(identity, name, mood, list(track_ids))

    def generate_playlist(self, identity: Identity, mood: str, duration_minutes: int, name: str = "") -> Playlist:
        identity.require(WRITE)
        if not mood:
            raise invalid("mood", "is required")
        self._check_mood("mood", mood)
        if not 1 <= duration_minutes <= limits.MAX_GENERATE_MINUTES:
            raise invalid("duration_minutes", integer_between(1, limits.MAX_GENERATE_MINUTES))
        name = self._check_text(identity, "name", name or f"{mood.capitalize()}, {duration_minutes} minutes")
        with self.db.connection() as conn:
            rows = conn.execute("SELECT id, duration_seconds FROM tracks WHERE EXISTS "
                                "(SELECT 1 FROM json_each(moods) WHERE value = ?)", (mood,)).fetchall()
        chosen = pick_tracks([(r["id"], r["duration_seconds"]) for r in rows], duration_minutes * 60)
        if chosen is None:
            available = sum(r["duration_seconds"] for r in rows) // 60
            raise invalid("duration_minutes", f"cannot fill {duration_minutes} minutes (within 10%) with "
                                              f"{mood} tracks; the catalog has {available} minutes of them")
        return self._insert(identity, name, mood, chosen)

    def get_playlist(self, identity: Identity, playlist_id: str) -> Playlist:
        identity.require(READ)
        # _load reads with a single statement: a snapshot of its own, no transaction needed.
        with self.db.connection() as conn:
            return self._load(conn, identity, playlist_id)

    def list_playlists(self, identity: Identity, page_size: int | None = None, page_token: str = "") -> Page:
        identity.require(READ)
        size = pagination.page_size(page_size)
        query = {"owner": identity.user}
        offset = pagination.decode(self._page_key, page_token, query)
        with self.db.read() as conn:
            ids = [r["id"] for r in conn.execute(
                "SELECT id FROM playlists WHERE owner = ? ORDER BY created_at, id LIMIT ? OFFSET ?",
                (identity.user, size + 1, offset))]
            return self._page([self._load(conn, identity, i) for i in ids], size, offset, query)

    def update_playlist(self, identity: Identity, playlist_id: str, expected_version: int | None,
                        name: str | None = None, mood: str | None = None, track_ids=None) -> Playlist:
        """Rename, change the mood, or replace (and so reorder) the tracks; None leaves a field as it is.
        An update names the version it read: it replaces what the caller saw, so it must have seen it."""
        identity.require(WRITE)
        if expected_version is None:
            raise VersionRequired("send the version you read, so that a change made since is not overwritten")
        if name is not None:
            name = self._check_text(identity, "name", name)
        if mood is not None:
            self._check_mood("mood", mood)
        if track_ids is not None:
            self._check_track_ids(track_ids)
        with self.db.write() as conn:
            current = self._load(conn, identity, playlist_id)
            self._check_version(current, expected_version)
            conn.execute("UPDATE playlists SET name = ?, mood = ? WHERE id = ?",
                         (current.name if name is None else name, current.mood if mood is None else mood, current.id))
            if track_ids is not None:
                self._write_tracks(conn, current.id, list(track_ids))
            updated = self._bump(conn, identity, current)
        events.note_changes(*(f for f, value in (("name", name), ("mood", mood), ("tracks", track_ids))
                              if value is not None))
        return updated

    def add_track(self, identity: Identity, playlist_id: str, track_id: str, position: int = 0,
                  expected_version: int | None = None) -> Playlist:
        """Insert a track at a 1-based position; 0 appends it at the end."""
        identity.require(WRITE)
        self._check_track_ids([track_id], field="track_id")
        with self.db.write() as conn:
            current = self._load(conn, identity, playlist_id)
            self._check_version(current, expected_version)
            ids = [t.id for t in current.tracks]
            if len(ids) >= limits.MAX_TRACKS_PER_PLAYLIST:
                raise TooLarge(f"a playlist holds at most {limits.MAX_TRACKS_PER_PLAYLIST} tracks",
                               limits.MAX_TRACKS_PER_PLAYLIST)
            if not 0 <= position <= len(ids) + 1:
                raise invalid("position", f"must be between 1 and {len(ids) + 1}, or 0 to append")
            ids.insert(position - 1 if position else len(ids), track_id)
            self._write_tracks(conn, current.id, ids)
            return self._bump(conn, identity, current)

    def remove_track(self, identity: Identity, playlist_id: str, position: int,
                     expected_version: int | None = None) -> Playlist:
        """Remove the track at a 1-based position."""
        identity.require(WRITE)
        with self.db.write() as conn:
            current = self._load(conn, identity, playlist_id)
            self._check_version(current, expected_version)
            ids = [t.id for t in current.tracks]
            if not 1 <= position <= len(ids):
                raise invalid("position", f"must be between 1 and {len(ids)}" if ids else "the playlist is empty")
            del ids[position - 1]
            self._write_tracks(conn, current.id, ids)
            return self._bump(conn, identity, current)

    def delete_playlist(self, identity: Identity, playlist_id: str, expected_version: int | None = None) -> None:
        identity.require(WRITE)
        with self.db.write() as conn:
            current = self._load(conn, identity, playlist_id)
            self._check_version(current, expected_version)
            conn.execute("DELETE FROM playlists WHERE id = ?", (current.id,))

    def radio_next(self, identity: Identity, mood: str, played, count: int = 3) -> list[Track]:
        """The next `count` tracks of a mood that are not in `played` (the mood radio)."""
        identity.require(READ)
        if not mood:
            raise invalid("mood", "is required")
        self._check_mood("mood", mood)
        with self.db.connection() as conn:
            rows = conn.execute("SELECT * FROM tracks WHERE EXISTS (SELECT 1 FROM json_each(moods) WHERE value = ?)"
                                " ORDER BY position", (mood,)).fetchall()
        fresh = [_track(r) for r in rows if r["id"] not in played]
        return random.sample(fresh, min(count, len(fresh)))

    # --- the endpoint's view of a call ---------------------------------------------------

    def echo(self, identity: Identity, protocol: str, operation: str, headers, body: str, credential=None) -> Echo:
        """What the server received. Credential headers, and any secret the caller sent
        (a password inside a SOAP envelope, say), are replaced by [redacted]."""
        identity.require(READ)
        if len(body) > limits.MAX_BODY_BYTES:
            raise TooLarge(f"body over {limits.MAX_BODY_BYTES} bytes", limits.MAX_BODY_BYTES)

        def redact(text: str) -> str:
            for secret in secrets_of(credential):
                if secret:
                    text = text.replace(secret, REDACTED)
            return text

        shown = [Header(k, REDACTED if k.lower() in CREDENTIAL_HEADERS else redact(v)) for k, v in headers]
        return Echo(protocol, operation, identity.user, identity.method, shown, redact(body))

    # --- rules shared by the operations ---------------------------------------------------

    def _check_text(self, identity: Identity, field: str, value: str, required: bool = True,
                    limit: int = limits.MAX_NAME_LENGTH) -> str:
        """Trimmed text within its limit, with no control characters and no sensitive data."""
        value = (value or "").strip()
        if required and not value:
            raise invalid(field, "must not be empty")
        if len(value) > limit:
            raise invalid(field, at_most_characters(limit))
        if CONTROL_CHARACTERS.search(value):
            raise invalid(field, "must not contain control characters")
        kind = None if self.defences.off("scan", identity.user) else sensitive_kind(value)
        if kind:
            raise invalid(field, f"looks like sensitive data ({kind}), which is not stored here")
        return value

    def _outgoing(self, identity: Identity, field: str, value: str) -> str:
        """The scan's second half: text leaving the service is scanned too. A leak (data
        stored while the scan was switched off, say) is withheld and logged, not sent."""
        kind = None if self.defences.off("scan", identity.user) else sensitive_kind(value)
        if kind:
            log.warning("withheld a %s in an outgoing %s", kind, field)
            return WITHHELD
        return value

    def _check_mood(self, field: str, mood: str) -> None:
        if mood and mood not in {m.name for m in self.moods}:
            raise invalid(field, f"must be one of {', '.join(m.name for m in self.moods)}")

    def _check_track_ids(self, track_ids, field: str = "track_ids") -> None:
        if len(track_ids) > limits.MAX_TRACKS_PER_PLAYLIST:
            raise invalid(field, f"at most {limits.MAX_TRACKS_PER_PLAYLIST} tracks")
        names = [f"{field}[{i}]" if field == "track_ids" else field for i in range(len(track_ids))]
        for name, track_id in zip(names, track_ids):
            _check_id(name, track_id)
        bad = [FieldViolation(name, f"no track with id {_quoted(t)}")
               for name, t in zip(names, track_ids) if t not in self.tracks]
        if bad:
            raise InvalidArgument(*bad)

    @staticmethod
    def _check_version(current: Playlist, expected: int | None) -> None:
        if expected is not None and expected != current.version:
            raise Conflict(f"playlist is at version {current.version}, not {expected}", current.version)

    def _page(self, items: list, size: int, offset: int, query: dict) -> Page:
        more = len(items) > size
        token = pagination.encode(self._page_key, offset + size, query) if more else ""
        return Page(items[:size], token)

    def _insert(self, identity: Identity, name: str, mood: str, track_ids: list) -> Playlist:
        now = _now()
        playlist_id = "pl_" + secrets.token_urlsafe(9)
        with self.db.write() as conn:
            conn.execute("INSERT INTO playlists VALUES (?, ?, ?, ?, 1, ?, ?)",
                         (playlist_id, identity.user, name, mood, now, now))
            self._write_tracks(conn, playlist_id, track_ids)
            return self._load(conn, identity, playlist_id)

    @staticmethod
    def _write_tracks(conn, playlist_id: str, track_ids: list) -> None:
        conn.execute("DELETE FROM playlist_tracks WHERE playlist_id = ?", (playlist_id,))
        conn.executemany("INSERT INTO playlist_tracks VALUES (?, ?, ?)",
                         [(playlist_id, i, t) for i, t in enumerate(track_ids, start=1)])

    def _bump(self, conn, identity: Identity, current: Playlist) -> Playlist:
        conn.execute("UPDATE playlists SET version = version + 1, updated_at = ? WHERE id = ?", (_now(), current.id))
        return self._load(conn, identity, current.id)

    def _load(self, conn, identity: Identity, playlist_id: str) -> Playlist:
        """One playlist of the caller's. Another user's is 'not found', exactly like a missing one."""
        _check_id("playlist_id", playlist_id)
        owners = self.defences.readable_owners(identity.user)
        # One statement, so one snapshot, however many tracks: the playlist's row with its tracks
        # as [[position, track_id], ...] (an aggregate keeps no order: sorted here).
        row = conn.execute("SELECT *, (SELECT json_group_array(json_array(position, track_id)) FROM playlist_tracks"
                           " WHERE playlist_id = :id) AS tracks FROM playlists WHERE id = :id",
                           {"id": playlist_id}).fetchone()
        if row is None or (owners is not None and row["owner"] not in owners):
            raise NotFound(f"no playlist with id {_quoted(playlist_id)}")
        # orjson, as the journal: it reads this list in half json's time, and every read of a playlist does.
        tracks = [self.tracks[track_id] for _, track_id in sorted(orjson.loads(row["tracks"]))]
        return Playlist(id=row["id"], owner=row["owner"], name=self._outgoing(identity, "name", row["name"]),
                        mood=row["mood"], tracks=tracks, total_duration_seconds=sum(t.duration_seconds for t in tracks),
                        version=row["version"], created_at=row["created_at"], updated_at=row["updated_at"])

def pick_tracks(candidates: list[tuple[str, int]], target_seconds: int, attempts: int = 200,
                rng: random.Random | None = None) -> list[str] | None:
    """Distinct track ids whose durations add up to within 10% of the target, or None."""
    rng = rng or random.Random()
    low, high = target_seconds * 0.9, target_seconds * 1.1
    pool = list(candidates)
    for _ in range(attempts):
        rng.shuffle(pool)
        chosen, total = [], 0
        for track_id, seconds in pool:
            if total + seconds <= high and len(chosen) < limits.MAX_TRACKS_PER_PLAYLIST:
                chosen.append(track_id)
                total += seconds
            if total >= low:
                return chosen
    return None
