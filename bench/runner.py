"""The run: for each protocol, its real server and its bare baseline, measured turn and turn about.

Real and bare run side by side and are measured alternately, one measurement each at the
same operation and concurrency. Whatever else the machine is doing at that moment (another
process, a thermal throttle, a noisy neighbour) hits both, and their ratio survives it even
when the absolute numbers do not. Comparing against a number from another day, or another
machine, would measure the weather.
"""
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import servers, wire
from .load import LoadPool

SETTLE = 0.2          # seconds for the load processes to pick the job up and open their connections
COLLECT_GRACE = 30    # seconds past the window before a silent load process counts as lost
CLIENT_KEYS = ("user", "api_key", "password", "playlist_id", "track_ids")  # what a client needs to know
# The speed targets are judged on GetPlaylist at 16 calls in flight. One 2.5 s window is a
# lottery: each opens fresh connections, and how the kernel shares them between a server's
# processes (8 and 8, or 4 and 12) moves p99 by half. That measurement is made in rounds,
# real and bare turn about, and the tables show each one's median round (by calls/s).
TARGET_CONCURRENCY, TARGET_ROUNDS = 16, 3


@dataclass(frozen=True)
class Settings:
    protocols: tuple
    ops: tuple
    concurrency: tuple
    duration: float          # seconds measured, per measurement
    warmup: float            # seconds of calls before that, not counted
    basic: bool              # also GetPlaylist with Basic auth, at concurrency 1
    load_processes: int


@dataclass
class Measurement:
    protocol: str
    variant: str             # "real" or "bare"
    op: str
    concurrency: int
    seconds: float
    latencies: list          # seconds, sorted, of the calls that succeeded in the window
    errors: int
    first_error: str
    cpu_seconds: float       # of the server's whole process tree, during the window

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile_ms(self, q: float) -> float:
        """The latency that q% of the calls beat (nearest rank).

        p50 is the typical call; p99 is the one-in-a-hundred that a user who makes a
        hundred calls meets every time. A mean hides both: one 2-second stall and 99 fast
        calls average to a 'fine' 20 ms."""
        if not self.latencies:
            return float("nan")
        rank = max(0, min(len(self.latencies) - 1, round(q / 100 * len(self.latencies)) - 1))
        return self.latencies[rank] * 1000

    @property
    def cpu_ms_per_call(self) -> float:
        calls = len(self.latencies) + self.errors
        return self.cpu_seconds * 1000 / calls if calls else float("nan")


@dataclass
class Results:
    settings: Settings
    measurements: list = field(default_factory=list)
    wire: dict = field(default_factory=dict)     # (protocol, variant, op): wire.WireBytes
    memory: dict = field(default_factory=dict)   # (protocol, variant): [RSS after warm-up, RSS at the end]
    codecs: list = field(default_factory=list)   # serialization.Codec

    def find(self, protocol: str, variant: str, op: str, concurrency: int) -> Measurement | None:
        """The measurement, or the median of its rounds (by calls/s)."""
        rounds = sorted((m for m in self.measurements if (m.protocol, m.variant, m.op, m.concurrency) ==
                         (protocol, variant, op, concurrency)), key=lambda m: m.rps)
        return rounds[len(rounds) // 2] if rounds else None


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def measure(pool: LoadPool, server: servers.Server, protocol: str, variant: str, op: str, concurrency: int,
            fixture: dict, settings: Settings) -> Measurement:
    """Load the server for warm-up + duration; count the window, and the server's CPU and memory in it."""
    start = time.monotonic() + SETTLE + settings.warmup
    end = start + settings.duration
    parts = pool.run(protocol, op, server.address, fixture, concurrency, start, end)
    sleep_until(start)
    cpu_before = server.cpu_seconds()
    sleep_until(end)
    cpu_after = server.cpu_seconds()
    outcome = pool.collect(parts, timeout=COLLECT_GRACE)
    notice = server.death_notice()
    if notice:
        print(f"bench: {notice}", file=sys.stderr, flush=True)
    return Measurement(protocol, variant, op, concurrency, settings.duration, sorted(outcome.latencies),
                       outcome.errors, outcome.first_error, cpu_after - cpu_before)


def warm_up(pool: LoadPool, server: servers.Server, protocol: str, op: str, concurrency: int, fixture: dict,
            seconds: float) -> None:
    """Call `op` for `seconds` at `concurrency`; no call is counted (the window is empty)."""
    end = time.monotonic() + SETTLE + seconds
    pool.collect(pool.run(protocol, op, server.address, fixture, concurrency, end, end), timeout=COLLECT_GRACE)


def estimate_seconds(settings: Settings) -> float:
    """About how long the run takes on an idle machine: the measurements, the warm-ups, and the
    start-up, wire counts and stops of each protocol's two servers (measured: about 12 s)."""
    measurement = SETTLE + settings.warmup + settings.duration + 0.3
    warm_ups = 2 * len(settings.ops) * (SETTLE + settings.warmup + 0.3)
    return len(settings.protocols) * (12 + warm_ups) + count(settings) * measurement


def count(settings: Settings) -> int:
    """How many measurements the run makes (for the progress lines)."""
    per_protocol = 2 * len(settings.ops) * len(settings.concurrency) + (1 if settings.basic else 0)
    if "get_playlist" in settings.ops and TARGET_CONCURRENCY in settings.concurrency:
        per_protocol += 2 * (TARGET_ROUNDS - 1)
    return len(settings.protocols) * per_protocol


def bench_protocol(protocol: str, pool: LoadPool, home: Path, environment: dict, fixture: dict, fixture_path: Path,
                   settings: Settings, results: Results, progress) -> None:
    """Start the real server and its baseline, measure both, stop both (also on error or Ctrl-C).

    Each measurement goes into `results`, then to `progress` (which shows it)."""
    client = {k: fixture[k] for k in CLIENT_KEYS}

    def keep(measurement: Measurement) -> None:
        results.measurements.append(measurement)
        progress(measurement)

    with servers.start_real(protocol, home, environment) as real, \
            servers.start_bare(protocol, home, environment, fixture_path) as bare:
        pair = {"real": real, "bare": bare}
        for op in settings.ops:
            for variant, server in pair.items():
                results.wire[protocol, variant, op] = wire.measure(protocol, op, server.address, client)
        # Every operation once at the highest concurrency, uncounted: what a server allocates
        # for a full load (threads, buffers, caches) is then in the memory baseline, and
        # growth after it would be a leak.
        for op in settings.ops:
            for server in pair.values():
                warm_up(pool, server, protocol, op, max(settings.concurrency), client, settings.warmup)
        for variant, server in pair.items():
            results.memory[protocol, variant] = [server.rss_bytes(), None]
        for op in settings.ops:
            for concurrency in settings.concurrency:
                for _ in range(TARGET_ROUNDS if (op, concurrency) == ("get_playlist", TARGET_CONCURRENCY) else 1):
                    for variant, server in pair.items():
                        keep(measure(pool, server, protocol, variant, op, concurrency, client, settings))
        for variant, server in pair.items():
            results.memory[protocol, variant][1] = server.rss_bytes()
        if settings.basic:
            # Last, so that scrypt's 16 MB per call does not blur the memory figures above.
            keep(measure(pool, real, protocol, "real", "get_playlist_basic", 1, client, settings))

