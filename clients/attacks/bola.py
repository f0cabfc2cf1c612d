"""BOLA: bob asks for alice's playlist by its id, on each protocol (broken object-level authorization)."""
import secrets
import sys

from .common import PROTOCOLS, load, run_one, say, title, verdict


def run(targets, args):
    title("BOLA (broken object-level authorization)", """
        Bob is a real user with his own key. He has learnt the id of one of alice's playlists
        (from a shared link, a log, a guess) and asks for it, then for an id that does not exist.""")
    alice, bob = ("key", load("alice")["api_key"]), ("key", load("bob")["api_key"])
    created = targets.call("rest", "create_playlist", alice, name="Alice's private list")
    if created.kind != "ok":
        return verdict(False, "no playlist to attack", "alice could not create a playlist", "NOT SHOWN")
    playlist_id = created.playlist_id()
    say()
    attempts = [targets.call(protocol, "get_playlist", bob, playlist_id=playlist_id) for protocol in PROTOCOLS]
    missing_id = "pl_" + secrets.token_urlsafe(9)   # as long as a real one
    missing = targets.call("rest", "get_playlist", bob, playlist_id=missing_id)
    same = attempts[0].raw.replace(playlist_id.encode(), b"ID") == missing.raw.replace(missing_id.encode(), b"ID")
    say()
    # alice's playlist stays: the workshop's check (exercise 10) reads whose it was.
    say(f"alice's playlist and a missing one get the same answer: {same}")
    stopped = all(a.kind == "not_found" for a in attempts) and same
    return verdict(stopped, "the owner check (another's is not found)",
                   "every query for a playlist also asks owner = the caller: another user's playlist is "
                   "'not found', exactly like a missing one, so ids cannot even be probed")


if __name__ == "__main__":
    sys.exit(run_one(sys.modules[__name__]))
