"""What the server processes share: the rate limiter's counter and the call journal.

The counter must stay exact however many processes and threads count at once; the journal
must keep every call, in each process's order, write a change before its answer, and write
the rest when a server stops.
"""
import json
import multiprocessing
import subprocess
import sys
import threading
import time

import grpc
import requests
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc

from core import events
from core.config import load_settings
from core.events import CallEvent
from core.limits import SharedCounter
from serve.launch import ROOT, Server

from .conftest import TEST_ENV, eventually

WINDOW = 3600
NOW = 1_800_000_000.0 + 1234     # mid-window: every hit of a test falls in one window


# --- the shared rate counter ------------------------------------------------------------------

def allowed_calls(path, key: str, limit: int, threads: int, calls: int, results) -> None:
    """One process: `threads` threads each count `calls` calls; report how many were let through."""
    counter = SharedCounter(path)
    allowed = []

    def count():
        allowed.append(sum(1 for _ in range(calls) if counter.hit(key, limit, WINDOW, NOW) == 0))

    workers = [threading.Thread(target=count) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put(sum(allowed))


def test_the_counter_is_exact_across_processes_and_threads(tmp_path):
    path, limit = tmp_path / "counters", 700
    context = multiprocessing.get_context("spawn")   # fresh interpreters: pytest's threads are not forked
    results = context.Queue()
    processes = [context.Process(target=allowed_calls, args=(path, "user:alice", limit, 4, 100, results))
                 for _ in range(4)]
    for process in processes:
        process.start()
    allowed = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=10)
    assert sum(allowed) == limit            # 1,600 calls at a limit of 700: exactly 700 through
    assert all(process.exitcode == 0 for process in processes)


def test_a_refused_call_waits_for_the_next_window_and_keys_are_separate(tmp_path):
    counter = SharedCounter(tmp_path / "counters")
    assert [counter.hit("user:alice", 2, 60, now=120.5) for _ in range(3)] == [0, 0, 60]
    assert counter.hit("user:alice", 2, 60, now=179.9) == 1       # at least a second, never 0
    assert counter.hit("user:bob", 2, 60, now=130) == 0
    assert counter.hit("user:alice", 2, 60, now=180) == 0          # a new window, a new budget
    assert counter.hit("user:alice", 2, 3600, now=180) == 0        # another window length, another count


def test_ended_windows_free_their_slots_and_clear_forgets_every_count(tmp_path):
    counter = SharedCounter(tmp_path / "counters")
    counter.SLOTS, counter.PROBES = 8, 8     # a tiny table, to fill it
    for n in range(8):
        assert counter.hit(f"source:10.0.0.{n}", 5, 60, now=30) == 0
    assert counter.hit("source:10.0.0.99", 5, 60, now=31) > 0     # no room: refused, never uncounted
    assert counter.hit("source:10.0.0.99", 5, 60, now=61) == 0     # the old window's slots are free again
    assert SharedCounter(tmp_path / "counters").clear(now=62) == 1
    assert counter.hit("source:10.0.0.99", 1, 60, now=62) == 0


# --- the call journal ---------------------------------------------------------------------------

def call(operation: str, n: int, outcome: str = "ok") -> CallEvent:
    return CallEvent(protocol="rest", operation=operation, user="alice", auth_method="api_key", outcome=outcome,
                     status="200", bytes_in=0, bytes_out=n, ms=1.0)


JOURNAL_FROM_THREADS = """
import sys, threading
from core import events
from core.config import load_settings
from core.events import CallEvent
events.configure(load_settings({"PLAYLISTS_HOME": sys.argv[1]}))
def calls(thread):
    for n in range(250):
        events.record(CallEvent(protocol="rest", operation="get_playlist", user=f"t{thread}", auth_method="api_key",
                                outcome="ok", status="200", bytes_in=0, bytes_out=n, ms=1.0))
threads = [threading.Thread(target=calls, args=(t,)) for t in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""


def test_every_call_is_journalled_in_order_and_the_last_batch_at_exit(tmp_path):
    # The process ends right after its last call, well inside a batch: only the exit writes it.
    subprocess.run([sys.executable, "-c", JOURNAL_FROM_THREADS, str(tmp_path)], cwd=ROOT, check=True, timeout=60,
                   capture_output=True)
    lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert len(lines) == 1000
    for thread in range(4):
        assert [e["bytes_out"] for e in lines if e["user"] == f"t{thread}"] == list(range(250))


def test_a_change_or_a_refusal_is_written_before_the_answer_a_read_within_a_batch(tmp_path, monkeypatch):
    monkeypatch.setattr(events._Journal, "path", tmp_path / events.JOURNAL)
    try:
        journal = tmp_path / "events.jsonl"
        events.record(call("get_playlist", 1))
        events.record(call("create_playlist", 2))
        # The change's own thread wrote the queue, in order: the read before it is there too.
        assert [json.loads(line)["bytes_out"] for line in journal.read_text().splitlines()] == [1, 2]
        events.record(call("get_playlist", 3, outcome="rate_limited"))
        assert len(journal.read_text().splitlines()) == 3
        events.record(call("get_playlist", 4))
        eventually(lambda: len(journal.read_text().splitlines()) >= 4, timeout=5)
        assert len(journal.read_text().splitlines()) == 4
    finally:
        events.flush()


def test_the_writer_follows_a_reset_and_a_rotation(tmp_path, monkeypatch):
    monkeypatch.setattr(events._Journal, "path", tmp_path / events.JOURNAL)
    journal = tmp_path / "events.jsonl"
    events.record(call("create_playlist", 1))
    journal.unlink()                                    # what `python -m workshop reset` does
    events.record(call("create_playlist", 2))
    assert [json.loads(line)["bytes_out"] for line in journal.read_text().splitlines()] == [2]
    monkeypatch.setattr(events, "MAX_FILE_BYTES", 1000)
    for n in range(3, 30):
        events.record(call("create_playlist", n))
    assert (tmp_path / "events.jsonl.1").exists()
    assert [e["bytes_out"] for e in events.read(tmp_path)][-5:] == list(range(25, 30))


def test_a_stopped_server_has_journalled_every_call_it_answered(credentials, home):
    key = credentials["users"]["alice"]["api_key"]
    since = time.time()
    rest, rpc = Server("rest", home, TEST_ENV, tls=False), Server("rpc", home, TEST_ENV, tls=False)
    try:
        for _ in range(30):
            assert requests.get(f"http://127.0.0.1:{rest.port}/v1/me", headers={"X-API-Key": key}).status_code == 200
        with grpc.insecure_channel(f"127.0.0.1:{rpc.port}") as channel:
            for _ in range(30):
                playlist_pb2_grpc.PlaylistsStub(channel).WhoAmI(pb.WhoAmIRequest(), metadata=(("x-api-key", key),))
    finally:
        # Stopped right after their last answers: those lines are still in a batch.
        assert (rest.stop(), rpc.stop()) == (0, 0)
    answered = [e["protocol"] for e in events.read(home, since) if e["operation"] == "who_am_i"]
    assert (answered.count("rest"), answered.count("grpc")) == (30, 30)
