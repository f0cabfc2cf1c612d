"""The servers under test: started as users start them, watched through /proc, always stopped.

Each server runs in a process group (a session) of its own, so that one signal reaches the
gunicorn arbiter and all its workers, and so that Ctrl-C in the terminal reaches only the
benchmark, which then stops every server itself.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")        # /proc counts CPU time in clock ticks
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")  # and memory in pages
START_TIMEOUT = 30


def free_port() -> int:
    """A port nothing listens on now: bind port 0 and let the kernel choose."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree(root: int) -> list[int]:
    """The pid of `root` and of all its descendants (a gunicorn arbiter and its workers)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3, the state, comes first)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None  # the process ended meanwhile
    return text.rsplit(")", 1)[1].split()


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU time of the whole tree, threads included, and of children it reaped."""
    ticks = 0
    for pid in process_tree(root):
        fields = _stat(pid)
        if fields:
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / TICKS


def tree_rss_bytes(root: int) -> int:
    """Resident memory of the whole tree (pages shared between workers are counted in each)."""
    pages = 0
    for pid in process_tree(root):
        fields = _stat(pid)
        if fields:
            pages += int(fields[21])
    return pages * PAGE_BYTES


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, all processes) since boot."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and waiting for I/O
    return (sum(fields[:8]) - idle) / TICKS


def own_cpu_seconds() -> float:
    """CPU seconds of this process and of the children it has waited for (servers, load processes)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class ServerProcess:
    """`python -m MODULE --host 127.0.0.1 --port P ARGS...`, its output in a log file."""

    def __init__(self, label: str, module: str, args: list, environment: dict, log_path: Path):
        self.label = label
        self.port = free_port()
        self.log_path = log_path
        self._death_noticed = False
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(self.port), *args],
                cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.wait_until_listening()
        except BaseException:
            self.stop()
            raise

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.exit_status():
                raise RuntimeError(f"{self.label} ended ({self.exit_status()}):\n{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"{self.label}: nothing listening on {self.port} after {START_TIMEOUT}s")

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.process.pid)

    def rss_bytes(self) -> int:
        return tree_rss_bytes(self.process.pid)

    def exit_status(self) -> str | None:
        """How the server ended ('exit 1', 'signal 9'), or None while it runs.

        It looks without reaping the process (WNOWAIT). Until the leader is reaped its pid,
        which is also its process group's id, cannot be handed to another program, so a
        signal sent to the group later can never hit a stranger."""
        try:
            info = os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return "reaped"
        if info is None:
            return None
        return f"exit {info.si_status}" if info.si_code == os.CLD_EXITED else f"signal {info.si_status}"

    def death_notice(self) -> str | None:
        """The first time it is asked after the server died: why, from its log. Otherwise None."""
        if self._death_noticed or not self.exit_status():
            return None
        self._death_noticed = True
        return f"bench: {self.label} ended ({self.exit_status()}); the end of {self.log_path}:\n" + self.log_tail()

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM to the whole group (a graceful stop), SIGKILL to whatever is left, then reap."""
        if self.process.returncode is not None:
            return  # reaped already: its group id may belong to another program by now
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.exit_status() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal(signal.SIGKILL)  # a stuck server, or a worker left behind by its dead arbiter
        self.process.wait()

    def _signal(self, sig) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass  # nobody left in the group

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()


# How each server is started. The real ones exactly as users run them (their defaults:
# gunicorn with 2 gevent workers, gRPC with its thread pool); the bare baselines
# with the same settings. --tls-port 0: only the plain port is measured.
REAL = {"rest": ("rest", ["--tls-port", "0"]),
        "soap": ("soap", ["--tls-port", "0"]),
        "grpc": ("rpc", ["--tls-port", "0"])}
BARE = {"rest": "bench.bare_rest", "soap": "bench.bare_soap", "grpc": "bench.bare_grpc"}


def start_real(protocol: str, home: Path, environment: dict) -> ServerProcess:
    module, args = REAL[protocol]
    return ServerProcess(f"{protocol}", module, args, environment, home / f"{protocol}.log")


def start_bare(protocol: str, home: Path, environment: dict, fixture_path: Path) -> ServerProcess:
    return ServerProcess(f"bare {protocol}", BARE[protocol], ["--fixture", str(fixture_path)], environment,
                         home / f"bare-{protocol}.log")
