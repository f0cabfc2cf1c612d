"""Start real server processes on free loopback ports, wait until they answer, stop them."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30, log: Path | None = None) -> None:
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
    """One `python -m <kind>` process; `port` is plain, `tls_port` is mutual TLS."""

    def __init__(self, kind: str, home: Path, env: dict | None = None, tls: bool = True, port: int = 0):
        self.kind = kind
        self.port = port or free_port()   # a port given: a restart on the same address
        self.tls_port = free_port() if tls else 0
        environment = {**os.environ, "PLAYLISTS_HOME": str(home), **(env or {})}
        # The log goes to a file: a pipe nobody reads would fill up and block the server.
        self.log_path = Path(home) / f"{kind}-{self.port}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", kind, "--host", "127.0.0.1", "--port", str(self.port),
             "--tls-port", str(self.tls_port)],
            cwd=ROOT, env=environment, stdout=self.log_path.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            wait_for_port(self.port, self.process, log=self.log_path)
            if self.tls_port:
                wait_for_port(self.tls_port, self.process, log=self.log_path)
        except Exception:
            self.stop()
            raise

    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self, sig=signal.SIGTERM, timeout: float = 20) -> int:
        """Signal the whole group, SIGKILL what is left, and only then reap the leader.

        A group's id is its leader's pid. Once the leader is reaped, the kernel may give that
        pid to any new process, and a new session leader (another test's server, a benchmark's)
        has it as its group id too: a late killpg would kill a stranger."""
        if self.process.returncode is not None:
            return self.process.returncode  # reaped already (by a test's wait()): hands off the group
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while not self._exited() and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # stray workers; the unreaped leader keeps the id ours
        except ProcessLookupError:
            pass
        return self.process.wait()

    def _exited(self) -> bool:
        """Whether the leader has ended, looked at without reaping it (WNOWAIT)."""
        return os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
