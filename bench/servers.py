"""The servers under test, started by serve/launch.py as users start them, and the machine's CPU.
"""
import os
from pathlib import Path

from serve.launch import TICKS, Server


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, all processes) since boot."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and waiting for I/O
    return (sum(fields[:8]) - idle) / TICKS


def own_cpu_seconds() -> float:
    """CPU seconds of this process and of the children it has waited for (servers, load processes)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


# How each server is started. The real ones exactly as users run them (their defaults:
# gunicorn with 2 gevent workers, gRPC with its thread pool); the bare baselines
# with the same settings. No TLS port (tls=False): only the plain port is measured.
REAL = {"rest": "rest", "soap": "soap", "grpc": "rpc"}
BARE = {"rest": "bench.bare_rest", "soap": "bench.bare_soap", "grpc": "bench.bare_grpc"}


def start_real(protocol: str, home: Path, environment: dict) -> Server:
    return Server(REAL[protocol], home, exactly(environment), tls=False, label=protocol)


def start_bare(protocol: str, home: Path, environment: dict, fixture_path: Path) -> Server:
    return Server(BARE[protocol], home, exactly(environment), tls=None, args=("--fixture", str(fixture_path)),
                  label=f"bare {protocol}")


def exactly(environment: dict) -> dict:
    """`environment` as the server's whole environment: what it leaves out is unset."""
    return {**dict.fromkeys(os.environ), **environment}
