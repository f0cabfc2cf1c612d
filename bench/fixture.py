"""The data every server under test serves: a fresh $PLAYLISTS_HOME and one 10-track playlist.

The real servers read it from their SQLite database; the bare baselines get the very same
records as JSON (fixture.json) and serve them from memory. Same data, same bytes: the
difference between the two is the work our code does, not a different payload.
"""
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from core import PlaylistService
from core.auth import ApiKey
from core.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
USER = "alice"
PLAYLIST_TRACKS = 10   # GetPlaylist and CreatePlaylist answer a playlist of this many tracks
PAGE_SIZE = 20         # SearchTracks answers a page of this many tracks


def make_home(home: Path, environment: dict) -> Path:
    """Create the home the way users do (`python -m core.setup`), add the playlist, write fixture.json."""
    subprocess.run([sys.executable, "-m", "core.setup"], cwd=ROOT, env=environment, check=True,
                   stdout=subprocess.DEVNULL)
    credentials = json.loads((home / "credentials.json").read_text())["users"][USER]
    service = PlaylistService(load_settings(environment))
    identity = service.authenticate(ApiKey(credentials["api_key"]), "bench")
    tracks = service.search_tracks(identity, page_size=PLAYLIST_TRACKS).items
    track_ids = [t.id for t in tracks]
    playlist = service.create_playlist(identity, "Bench: ten tracks", "calm", track_ids)
    page = service.search_tracks(identity, page_size=PAGE_SIZE)
    fixture = {"user": USER, "api_key": credentials["api_key"], "password": credentials["password"],
               "playlist_id": playlist.id, "track_ids": track_ids,
               "playlist": asdict(playlist), "page": asdict(page)}
    path = home / "fixture.json"
    path.write_text(json.dumps(fixture, indent=2))
    return path


def load(path) -> dict:
    """The fixture as written by make_home (also read by the bare servers, which import no core)."""
    return json.loads(Path(path).read_text())
