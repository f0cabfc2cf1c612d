-- The one database shared by the REST, SOAP and gRPC servers.
CREATE TABLE IF NOT EXISTS moods (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    position    INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS tracks (
    id               TEXT PRIMARY KEY,
    title            TEXT NOT NULL,
    composer         TEXT NOT NULL,
    work             TEXT NOT NULL,
    era              TEXT NOT NULL,
    year             INTEGER NOT NULL,
    duration_seconds INTEGER NOT NULL,
    key              TEXT NOT NULL,
    tempo_bpm        INTEGER NOT NULL,
    moods            TEXT NOT NULL,          -- a JSON list of mood names
    position         INTEGER NOT NULL        -- catalog order, for stable pages
);
CREATE INDEX IF NOT EXISTS tracks_by_position ON tracks (position);

CREATE TABLE IF NOT EXISTS users (
    name               TEXT PRIMARY KEY,
    password_hash      TEXT NOT NULL,        -- scrypt, salted
    api_key_hash       TEXT NOT NULL UNIQUE, -- SHA-256 of a random key
    client_id          TEXT NOT NULL UNIQUE, -- OAuth 2.0 client credentials
    client_secret_hash TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS playlists (
    id         TEXT PRIMARY KEY,             -- random, so ids cannot be guessed
    owner      TEXT NOT NULL REFERENCES users (name),
    name       TEXT NOT NULL,
    mood       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS playlists_by_owner ON playlists (owner, created_at, id);

CREATE TABLE IF NOT EXISTS playlist_tracks (
    playlist_id TEXT NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    track_id    TEXT NOT NULL REFERENCES tracks (id),
    PRIMARY KEY (playlist_id, position)
);

CREATE TABLE IF NOT EXISTS auth_failures (
    key          TEXT PRIMARY KEY,           -- 'user:alice', 'source:127.0.0.1', or 'known:127.0.0.1 alice'
                                             -- (alice has signed in from there: her own count)
    failures     INTEGER NOT NULL,
    locked_until REAL NOT NULL
);
