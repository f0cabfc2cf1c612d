"""The core's rules, called directly: no protocol in between."""
import json
import sqlite3
import threading
from contextlib import closing

import pytest

from core import PlaylistService
from core.auth import ApiKey, BearerToken, UsernamePassword, credential_from_authorization, hash_key
from core.config import load_settings
from core.errors import (Conflict, Forbidden, InvalidArgument, NotFound, RateLimited, Unauthenticated,
                         VersionRequired)
from core.service import pick_tracks


@pytest.fixture(scope="module")
def alice(service, credentials):
    return service.authenticate(ApiKey(credentials["users"]["alice"]["api_key"]), "test")


@pytest.fixture(scope="module")
def bob(service, credentials):
    return service.authenticate(ApiKey(credentials["users"]["bob"]["api_key"]), "test")


def test_the_catalog_is_big_and_every_mood_can_fill_an_hour(service, alice):
    assert len(service.moods) >= 8
    first = service.search_tracks(alice, page_size=50)
    assert len(first.items) == 50 and first.next_page_token
    for mood in service.moods:
        playlist = service.generate_playlist(alice, mood.name, 60)
        assert all(mood.name in t.moods for t in playlist.tracks)
        assert len({t.id for t in playlist.tracks}) == len(playlist.tracks)
        assert 54 * 60 <= playlist.total_duration_seconds <= 66 * 60


def test_generation_that_the_catalog_cannot_fill_is_a_clear_error(service, alice):
    with pytest.raises(InvalidArgument) as error:
        service.generate_playlist(alice, "triumphant", 600)
    assert error.value.violations[0].field == "duration_minutes"
    assert "minutes of them" in error.value.message


def test_pick_tracks_stays_within_ten_percent_or_gives_up():
    tracks = [(f"t{i}", 300) for i in range(10)]
    chosen = pick_tracks(tracks, 1200)
    assert len(chosen) == 4 and len(set(chosen)) == 4
    assert pick_tracks(tracks, 60) is None          # every track is longer than 66 s


def test_pages_cover_the_catalog_once_and_tokens_are_tamper_evident(service, alice):
    seen, token = [], ""
    while True:
        page = service.search_tracks(alice, mood="calm", page_size=7, page_token=token)
        seen += [t.id for t in page.items]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) and all("calm" in service.get_track(alice, i).moods for i in seen)
    token = service.search_tracks(alice, page_size=5).next_page_token
    for forged in (token[:-1] + ("0" if token[-1] != "0" else "1"), "garbage", "a.b.c", token.replace(".", "")):
        with pytest.raises(InvalidArgument, match="page_token"):
            service.search_tracks(alice, page_size=5, page_token=forged)
    with pytest.raises(InvalidArgument, match="page_token"):   # a token of another query
        service.search_tracks(alice, mood="calm", page_size=5, page_token=token)


@pytest.mark.parametrize("size", [-1, 51, 10**9])
def test_page_size_is_capped(service, alice, size):
    with pytest.raises(InvalidArgument, match="page_size"):
        service.search_tracks(alice, page_size=size)


def test_another_users_playlist_is_not_found_for_every_operation(service, alice, bob):
    playlist = service.create_playlist(alice, "Alice's", "calm", ["bach-bwv1007-prelude"])
    attempts = [lambda: service.get_playlist(bob, playlist.id),
                lambda: service.update_playlist(bob, playlist.id, 1, name="mine"),
                lambda: service.add_track(bob, playlist.id, "bach-bwv1007-prelude"),
                lambda: service.remove_track(bob, playlist.id, 1),
                lambda: service.delete_playlist(bob, playlist.id)]
    for attempt in attempts:
        with pytest.raises(NotFound) as error:
            attempt()
        assert str(error.value) == f"no playlist with id {playlist.id!r}"   # the same as a missing one
    assert playlist.id not in [p.id for p in service.list_playlists(bob, page_size=50).items]
    assert service.get_playlist(alice, playlist.id) == playlist


def test_two_concurrent_updates_with_the_same_version_exactly_one_wins(service, alice):
    playlist = service.create_playlist(alice, "Race")
    results, barrier = [], threading.Barrier(8)

    def rename(i):
        barrier.wait()
        try:
            results.append(service.update_playlist(alice, playlist.id, playlist.version, name=f"name {i}"))
        except Conflict as conflict:
            results.append(conflict)

    threads = [threading.Thread(target=rename, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    winners = [r for r in results if not isinstance(r, Conflict)]
    assert len(winners) == 1 and len(results) == 8
    final = service.get_playlist(alice, playlist.id)
    assert final.version == 2 and final.name == winners[0].name


def test_an_update_must_name_the_version_it_read(service, alice):
    playlist = service.create_playlist(alice, "Unversioned")
    with pytest.raises(VersionRequired):
        service.update_playlist(alice, playlist.id, None, name="Blind")
    assert service.get_playlist(alice, playlist.id) == playlist


def test_adds_without_a_version_are_all_kept(service, alice):
    playlist = service.create_playlist(alice, "Crowd")
    ids = [t.id for t in service.search_tracks(alice, page_size=20).items]
    threads = [threading.Thread(target=service.add_track, args=(alice, playlist.id, i)) for i in ids]
    [t.start() for t in threads]
    [t.join() for t in threads]
    final = service.get_playlist(alice, playlist.id)
    assert sorted(t.id for t in final.tracks) == sorted(ids) and final.version == 1 + len(ids)


@pytest.mark.parametrize("name,kind", [("card 4111 1111 1111 1111", "card number"),
                                       ("mail me: a.b@example.org", "e-mail address"),
                                       ("pk_" + "x" * 30, "key or token")])
def test_sensitive_data_is_refused_without_being_echoed(service, alice, name, kind):
    with pytest.raises(InvalidArgument) as error:
        service.create_playlist(alice, name)
    assert kind in error.value.message and name not in error.value.message


def test_secrets_are_stored_only_as_hashes(home, credentials):
    dump = "\n".join(sqlite3.connect(home / "playlists.sqlite3").iterdump())
    for user in credentials["users"].values():
        for secret in (user["password"], user["api_key"], user["client_secret"]):
            assert secret not in dump


@pytest.mark.parametrize("value, credential", [
    ("Basic YWxpY2U6czNjcjN0Onc=", UsernamePassword("alice", "s3cr3t:w")),   # the password may hold a colon
    ("basic  YWxpY2U6czNjcjN0Onc= ", UsernamePassword("alice", "s3cr3t:w")),  # schemes are case-insensitive
    ("Bearer eyJ.x.y", BearerToken("eyJ.x.y")),
    ("Basic !!!", None), ("Basic ", None), ("Digest whatever", None), ("", None)])
def test_an_authorization_value_is_read_once_for_rest_and_grpc(value, credential):
    assert credential_from_authorization(value) == credential


def test_wrong_credentials_all_look_the_same(service, credentials):
    messages = set()
    for credential in (ApiKey("pk_wrong"), UsernamePassword("alice", "wrong"), UsernamePassword("nobody", "x"),
                       BearerToken("not.a.token"), None):
        with pytest.raises(Unauthenticated) as error:
            service.authenticate(credential, "10.0.0.1")
        messages.add(error.value.message)
    assert len(messages) == 1


def test_an_unknown_key_is_looked_up_again_so_a_user_added_later_gets_in(service, home):
    """A key's identity is remembered once found, never a key's absence."""
    key = ApiKey("pk_" + "latecomer" * 4)
    with pytest.raises(Unauthenticated):
        service.authenticate(key, "10.0.0.5")
    with closing(sqlite3.connect(home / "playlists.sqlite3")) as db:   # as setup adds a user
        db.execute("INSERT INTO users VALUES ('latecomer', '-', ?, 'latecomer-client', '-')", (hash_key(key.key),))
        db.commit()
    assert service.authenticate(key, "10.0.0.5").user == "latecomer"


def test_repeated_password_failures_lock_the_user_out(home, credentials):
    service = PlaylistService(load_settings({"PLAYLISTS_HOME": str(home)}))
    good = UsernamePassword("bob", credentials["users"]["bob"]["password"])
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            service.authenticate(UsernamePassword("bob", "guess"), "10.0.0.2")
    with pytest.raises(RateLimited) as error:                  # even the right password waits now
        service.authenticate(good, "10.0.0.3")
    assert error.value.retry_after >= 1


def test_the_rate_limit_is_per_identity(home, credentials):
    service = PlaylistService(load_settings({"PLAYLISTS_HOME": str(home), "PLAYLISTS_RATE_LIMIT": "3/hour"}))
    key = ApiKey(credentials["users"]["alice"]["api_key"])
    for _ in range(3):
        service.authenticate(key, "10.0.0.4")
    with pytest.raises(RateLimited) as error:
        service.authenticate(key, "10.0.0.4")
    assert 1 <= error.value.retry_after <= 3600


def test_a_read_only_token_cannot_write(service, credentials):
    user = credentials["users"]["alice"]
    token = service.issue_token("client_credentials", user["client_id"], user["client_secret"],
                                "playlists:read", "test")
    identity = service.authenticate(BearerToken(token["access_token"]), "test")
    assert service.who_am_i(identity).scopes == ["playlists:read"]
    with pytest.raises(Forbidden):
        service.create_playlist(identity, "nope")


def test_echo_redacts_the_callers_secrets(service, credentials, alice):
    key = credentials["users"]["alice"]["api_key"]
    echo = service.echo(alice, "rest", "POST /v1/echo", [("X-API-Key", key), ("Accept", "*/*")],
                        json.dumps({"copy": key}), ApiKey(key))
    assert key not in repr(echo) and echo.headers[1].value == "*/*"


def test_a_leak_on_the_way_out_is_withheld(home, credentials, alice):
    unsafe = PlaylistService(load_settings({"PLAYLISTS_HOME": str(home), "PLAYLISTS_UNSAFE": "scan"}))
    leaked = unsafe.create_playlist(alice, "call me at a.b@example.org")
    assert leaked.name == "call me at a.b@example.org"             # the scan was off: it got in
    safe = PlaylistService(load_settings({"PLAYLISTS_HOME": str(home)}))
    assert safe.get_playlist(alice, leaked.id).name == "[withheld: sensitive data]"


def test_teaching_switches_only_on_loopback():
    from core.config import check_unsafe_allowed
    settings = load_settings({"PLAYLISTS_UNSAFE": "bola"})
    check_unsafe_allowed(settings, ["127.0.0.1", "::1"])
    with pytest.raises(SystemExit, match="loopback"):
        check_unsafe_allowed(settings, ["0.0.0.0"])
    with pytest.raises(ValueError, match="PLAYLISTS_UNSAFE"):
        load_settings({"PLAYLISTS_UNSAFE": "everything"})


def test_bola_switched_off_lets_bob_read_alices_playlist(home, alice, bob, credentials):
    playlist = PlaylistService(load_settings({"PLAYLISTS_HOME": str(home)})).create_playlist(alice, "Private")
    unsafe = PlaylistService(load_settings({"PLAYLISTS_HOME": str(home), "PLAYLISTS_UNSAFE": "bola"}))
    assert unsafe.get_playlist(bob, playlist.id).owner == "alice"   # the attack works with the defence off
