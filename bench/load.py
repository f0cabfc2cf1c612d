"""The load generator: a few long-lived processes whose threads call the server in a closed loop.

Why processes: the threads of one Python process share one GIL, so a single client process
would saturate a core and its own queueing would look like server latency. Why a pool kept
for the whole run: spawning fresh processes for every measurement costs CPU that the
server, on a 2-core machine, would feel.

Closed loop: each thread sends its next call as soon as the previous answer arrives, so
concurrency N means N calls in flight. When the server slows down, the clients slow down
with it and send fewer calls; latencies under overload are then lower than an open-loop
client (a fixed arrival rate) would see. Compare latencies at the same concurrency, never
across.
"""
import multiprocessing
import queue
import signal
import threading
import time
from dataclasses import dataclass, field

import grpc

from .calls import describe, grpc_caller, http_caller

PAUSE_AFTER_ERROR = 0.01  # seconds: a server refusing connections must not make us spin


@dataclass(frozen=True)
class Job:
    """Call `op` of the server at `address` with `threads` threads from `start` to `end` (time.monotonic)."""
    protocol: str
    op: str
    address: str
    fixture: dict
    threads: int
    start: float
    end: float


@dataclass
class Outcome:
    latencies: list = field(default_factory=list)  # seconds, of the calls that succeeded in the window
    errors: int = 0
    first_error: str = ""

    def add(self, other: "Outcome") -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error


def drive(one_call, start: float, end: float, outcome: Outcome) -> None:
    """Call until `end`; keep the calls that finish inside the window [start, end].

    Calls before `start` are the warm-up (connections opened, caches filled, lazy imports
    done): they are made but not counted."""
    while (began := time.monotonic()) < end:
        error = None
        try:
            one_call()
        except Exception as caught:
            error = caught
        finished = time.monotonic()
        if start <= finished <= end:
            if error is None:
                outcome.latencies.append(finished - began)
            else:
                outcome.errors += 1
                outcome.first_error = outcome.first_error or describe(error)
        if error is not None:
            time.sleep(PAUSE_AFTER_ERROR)


def run_job(job: Job) -> Outcome:
    """One process's share of a measurement: its threads, its connections, their outcome."""
    if job.protocol == "grpc":
        # A channel, so a connection, per thread, as an HTTP session per thread: a server's
        # processes share connections, not calls. Channels to one address share one connection
        # unless each keeps a subchannel pool of its own.
        channels = [grpc.insecure_channel(job.address, options=[("grpc.use_local_subchannel_pool", 1)])
                    for _ in range(job.threads)]
        callers = [grpc_caller(channel, job.op, job.fixture) for channel in channels]
    else:
        channels = []
        callers = [http_caller(job.protocol, job.op, job.address, job.fixture) for _ in range(job.threads)]
    outcomes = [Outcome() for _ in callers]
    threads = [threading.Thread(target=drive, args=(c, job.start, job.end, o)) for c, o in zip(callers, outcomes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for one_call in callers:
        one_call.close()
    for channel in channels:
        channel.close()
    total = Outcome()
    for outcome in outcomes:
        total.add(outcome)
    return total


def serve_jobs(jobs, results) -> None:
    """A load process: run each job it is given until it is given None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us
    while (job := jobs.get()) is not None:
        try:
            results.put(run_job(job))
        except Exception as error:
            results.put(Outcome(errors=1, first_error=f"load generator: {error!r}"))


def split(concurrency: int, processes: int) -> list[int]:
    """Threads per process: 16 over 4 processes is [4, 4, 4, 4]; 1 is [1]."""
    used = min(concurrency, processes)
    return [concurrency // used + (1 if i < concurrency % used else 0) for i in range(used)]


class LoadPool:
    """`processes` load processes, started once; each measurement is split over them."""

    def __init__(self, processes: int):
        context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited gRPC state
        self.results = context.Queue()
        self.queues = [context.Queue() for _ in range(processes)]
        self.processes = [context.Process(target=serve_jobs, args=(q, self.results), daemon=True, name=f"load-{i}")
                          for i, q in enumerate(self.queues)]
        for process in self.processes:
            process.start()

    def run(self, protocol: str, op: str, address: str, fixture: dict, concurrency: int, start: float,
            end: float) -> int:
        """Hand out a measurement; returns how many outcomes `collect` must wait for."""
        shares = split(concurrency, len(self.queues))
        for jobs, threads in zip(self.queues, shares):
            jobs.put(Job(protocol, op, address, fixture, threads, start, end))
        return len(shares)

    def collect(self, parts: int, timeout: float) -> Outcome:
        """The outcomes of the last measurement, added up; fails if a load process died."""
        total, deadline = Outcome(), time.monotonic() + timeout
        while parts:
            try:
                total.add(self.results.get(timeout=1))
                parts -= 1
            except queue.Empty:
                dead = [p.name for p in self.processes if not p.is_alive()]
                if dead or time.monotonic() > deadline:
                    raise RuntimeError(f"load generator lost: {', '.join(dead) or 'no answer'}") from None
        return total

    def close(self) -> None:
        for jobs in self.queues:
            jobs.put(None)
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()
