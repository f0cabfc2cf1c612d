"""The domain: what the service talks about. Plain data, the same in every protocol.

These classes are also the explicit output shapes: an answer is built from them field by
field, so a column added to the database never leaks out by accident.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mood:
    name: str
    description: str


@dataclass(frozen=True)
class Track:
    id: str
    title: str
    composer: str
    work: str
    era: str
    year: int
    duration_seconds: int
    key: str
    tempo_bpm: int
    moods: list[str]


@dataclass(frozen=True)
class Playlist:
    id: str
    owner: str
    name: str
    mood: str
    tracks: list[Track]
    total_duration_seconds: int
    version: int
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class User:
    name: str
    auth_method: str
    scopes: list[str]


@dataclass(frozen=True)
class Page:
    """One page of a list; `next_page_token` is empty on the last page."""
    items: list
    next_page_token: str = ""


@dataclass(frozen=True)
class Header:
    name: str
    value: str


@dataclass(frozen=True)
class Echo:
    """What the server received, as it arrived, with credentials redacted."""
    protocol: str
    operation: str
    user: str
    auth_method: str
    headers: list[Header] = field(default_factory=list)
    body: str = ""
