"""Start a server as its users start it (`python -m rest|soap|rpc …`) on free loopback ports,
wait until it listens, watch it through /proc, and stop it with every process it started.
The tests, the benchmark and the soak all start their servers here.

Each server runs in a process group (a session) of its own, so that one signal reaches the
gunicorn arbiter and all its workers, and so that Ctrl-C in a terminal reaches only the
program that started it, which then stops the server itself.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30
TICKS = os.sysconf("SC_CLK_TCK")        # /proc counts CPU time in clock ticks
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")  # and memory in pages


def free_port() -> int:
    """A port nothing listens on now: bind port 0 and let the kernel choose."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = START_TIMEOUT,
                  log: Path | None = None) -> None:
    """Poll until the port accepts a connection; fail at once if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log.read_text() if log else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port} after {timeout}s")


class Server:
    """`python -m MODULE --host 127.0.0.1 --port P [--tls-port T] ARGS…`, its output in a log file.

    `port` is plain; `tls_port` is mutual TLS when `tls` is True, 0 (none) when False; with
    `tls=None` no --tls-port is passed at all (the benchmark's bare baselines have none).
    `env` is laid over this process's environment; a None value removes a variable. `port`
    chooses the plain port (a restart where the last server was) rather than a free one."""

    def __init__(self, module: str, home: Path, env: dict | None = None, tls: bool | None = True,
                 args: tuple = (), label: str | None = None, port: int = 0):
        self.kind, self.label = module, label or module
        self.port = port or free_port()   # a port given: a restart on the same address
        self.tls_port = free_port() if tls else 0
        self._death_noticed = False
        environment = {**os.environ, "PLAYLISTS_HOME": str(home), **(env or {})}
        environment = {k: v for k, v in environment.items() if v is not None}
        tls_flag = [] if tls is None else ["--tls-port", str(self.tls_port)]
        # The log goes to a file: a pipe nobody reads would fill up and block the server.
        self.log_path = Path(home) / f"{self.label.replace(' ', '-')}-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(self.port), *tls_flag, *args],
                cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            for port in (self.port, self.tls_port):
                if port:
                    wait_for_port(port, self.process, log=self.log_path)
        except BaseException:
            self.stop()
            raise

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

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
        return f"{self.label} ended ({self.exit_status()}); the end of {self.log_path}:\n" + self.log_tail()

    def stop(self, sig=signal.SIGTERM, timeout: float = 20) -> int:
        """Signal the whole group, SIGKILL what is left, and only then reap the leader.

        A group's id is its leader's pid. Once the leader is reaped, the kernel may give that
        pid to any new process, and a new session leader (another test's server, a benchmark's)
        has it as its group id too: a late killpg would kill a stranger."""
        if self.process.returncode is not None:
            return self.process.returncode  # reaped already (by a test's wait()): hands off the group
        self._signal(sig)
        deadline = time.monotonic() + timeout
        while self.exit_status() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal(signal.SIGKILL)  # stray workers; the unreaped leader keeps the id ours
        return self.process.wait()

    def _signal(self, sig) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass  # nobody left in the group

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()

    # --- what it uses, from /proc ---

    def processes(self) -> list[int]:
        """The pid of the server and of all its descendants (a gunicorn arbiter and its workers)."""
        children = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                fields = _stat(int(entry))
                if fields:
                    children.setdefault(int(fields[1]), []).append(int(entry))
        tree, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += children.get(pid, [])
        return tree

    def cpu_seconds(self) -> float:
        """User + system CPU time of the whole tree, threads included, and of children it reaped."""
        fields = [_stat(pid) for pid in self.processes()]
        return sum(sum(int(f) for f in each[11:15]) for each in fields if each) / TICKS   # utime … cstime

    def rss_bytes(self) -> int:
        """Resident memory of the whole tree (pages shared between workers are counted in each)."""
        fields = [_stat(pid) for pid in self.processes()]
        return sum(int(each[21]) for each in fields if each) * PAGE_BYTES


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3, the state, comes first)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None  # the process ended meanwhile
    return text.rsplit(")", 1)[1].split()
