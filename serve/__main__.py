"""`.venv/bin/python -m serve`: the REST, SOAP and gRPC servers together, one prefixed log stream.

Ctrl-C (or SIGTERM) stops all three cleanly. With --demo, it waits until all three
answer, runs the side-by-side tour against them, stops them and exits with the tour's code.
A server that cannot start stops all three at once, with its last log lines and the cause.
"""
import argparse
import collections
import errno
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

from core import config

SERVERS = {"rest": "REST", "soap": "SOAP", "rpc": "GRPC"}  # module: its name in PLAYLISTS_<NAME>_PORT
COLOURS = {"rest": "\033[36m", "soap": "\033[35m", "rpc": "\033[33m"}
LAST_LINES = 12
START_SECONDS = 30


def prefix(name: str, tty: bool) -> str:
    return f"{COLOURS[name]}{name:<4}\033[0m │ " if tty else f"{name:<4} │ "


def ports(name: str) -> dict:
    """The server's two ports by their variable's name: {"PLAYLISTS_REST_PORT": 8080, …}."""
    return {f"PLAYLISTS_{SERVERS[name]}{tls}_PORT": config.port(SERVERS[name] + tls) for tls in ("", "_TLS")}


def start(name: str, host: str) -> subprocess.Popen:
    plain, tls = ports(name).values()
    return subprocess.Popen([sys.executable, "-u", "-m", name, "--host", host, "--port", str(plain),
                             "--tls-port", str(tls)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


class Logs(threading.Thread):
    """Copy each server's output to `out`, line by line with its name in front; keep each one's last lines."""

    def __init__(self, processes: dict, out, tty: bool):
        super().__init__(daemon=True)
        self.out, self.tty = out, tty
        self.last = {name: collections.deque(maxlen=LAST_LINES) for name in processes}
        self.ended = {name: threading.Event() for name in processes}   # its output is closed: all read
        self.selector = selectors.DefaultSelector()
        for name, process in processes.items():
            self.selector.register(process.stdout, selectors.EVENT_READ, name)

    def run(self) -> None:
        while self.selector.get_map():
            for key, _ in self.selector.select(timeout=0.1):
                line = key.fileobj.readline()
                if not line:
                    self.selector.unregister(key.fileobj)
                    self.ended[key.data].set()
                    continue
                text = line.decode(errors="replace").rstrip("\n")
                self.last[key.data].append(text)
                self.out.write(prefix(key.data, self.tty) + text + "\n")
                self.out.flush()


def busy_port(host: str) -> str | None:
    """The first port another program already listens on, as a sentence, or None."""
    for name in SERVERS:
        for variable, port in ports(name).items():
            family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
            with socket.socket(family, kind) as probe:
                # As the servers do: a port that only lingers from a closed connection is free.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(address)
                except OSError as error:
                    if error.errno != errno.EADDRINUSE:
                        raise
                    return f"port {port} is in use by another program: free it or set {variable}"
    return None


def cause(name: str, lines) -> str:
    """A failed server's log, read for the usual causes, as one plain sentence."""
    text = "\n".join(lines)
    missing = re.search(r"No module named '([\w.]+)'", text)
    if missing:
        version = ".".join(map(str, sys.version_info[:2]))
        return (f"Python {version} without the module {missing.group(1)}: run `make setup` again, or pick another "
                "interpreter: `make demo PYTHON=python3.11` (3.11, 3.12 and 3.13 work)")
    port = re.search(r"(?:in use|Failed to bind to address)\D*?(\d{2,5})\b", text)
    if port:
        variable = next(v for v, p in ports(name).items() if str(p) == port.group(1))
        return f"port {port.group(1)} is in use by another program: free it or set {variable}"
    said = [line.strip() for line in lines if line.strip()]
    return f"{name} stopped while starting: {said[-1] if said else 'it printed nothing'}"


def wait_until_listening(host: str, processes: dict, logs: Logs) -> None:
    """Return when every server answers on both its ports; exit with the cause if one stops first."""
    deadline = time.monotonic() + START_SECONDS
    waiting = [(name, port) for name in processes for port in ports(name).values()]
    while waiting:
        name, port = waiting[0]
        exited = processes[name].poll() is not None
        if exited or time.monotonic() > deadline:
            logs.ended[name].wait(2)
            print(f"\nserve: {name} did not start. Its last lines:", file=sys.stderr)
            for line in logs.last[name]:
                print(f"    {line}", file=sys.stderr)
            raise SystemExit(f"serve: {cause(name, logs.last[name])}" if exited else
                             f"serve: nothing answers on {host}:{port} after {START_SECONDS} s")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            waiting.pop(0)
        except OSError:
            time.sleep(0.05)


def stop(processes: dict) -> None:
    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m serve", description=__doc__.splitlines()[0],
                                     epilog="The ports: PLAYLISTS_REST_PORT, PLAYLISTS_REST_TLS_PORT, "
                                            "PLAYLISTS_SOAP_PORT, PLAYLISTS_SOAP_TLS_PORT, PLAYLISTS_GRPC_PORT and "
                                            "PLAYLISTS_GRPC_TLS_PORT (see the README's table).")
    parser.add_argument("--host", default=config.host(),
                        help=f"address all three bind (default $PLAYLISTS_HOST or {config.host()})")
    parser.add_argument("--demo", action="store_true",
                        help="run the side-by-side tour against the servers, then stop them")
    args = parser.parse_args()
    os.environ["PLAYLISTS_HOST"] = args.host  # the tour's clients call where the servers listen
    busy = busy_port(args.host)
    if busy:
        raise SystemExit(f"serve: {busy}")
    # In the demo the tour has the screen; the servers' lines go to a file.
    home = os.environ.get("PLAYLISTS_HOME", ".demo")
    out = open(os.path.join(home, "serve.log"), "a") if args.demo else sys.stdout
    processes = {name: start(name, args.host) for name in SERVERS}
    logs = Logs(processes, out, out.isatty())
    logs.start()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    code = 0
    try:
        wait_until_listening(args.host, processes, logs)
        rest, rest_tls, soap, soap_tls, grpc, grpc_tls = (p for name in SERVERS for p in ports(name).values())
        where = config.public_host()
        print(f"serve: REST http://{where}:{rest}   SOAP http://{where}:{soap}/soap   gRPC {where}:{grpc}"
              f"   (mutual TLS: {rest_tls}, {soap_tls}, {grpc_tls})\n       start here: http://{where}:{rest}/",
              flush=True)
        if args.demo:
            code = subprocess.call([sys.executable, "-m", "clients.compare", "all"])
            print(f"\nThe servers' log of the tour: {out.name}")
        else:
            while not stopping:
                dead = [name for name, process in processes.items() if process.poll() is not None]
                if dead:
                    raise SystemExit(f"serve: {', '.join(dead)} stopped unexpectedly; see its lines above")
                time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        stop(processes)
        logs.join(5)
        print("serve: all servers stopped", flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
