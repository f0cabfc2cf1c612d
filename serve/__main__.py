"""`python -m serve`: the REST, SOAP and gRPC servers together, one prefixed log stream.

Ctrl-C (or SIGTERM) stops all three cleanly. With --demo, it waits until all three
answer, runs the side-by-side tour against them, stops them and exits with the tour's code.
With --class N, it prepares a room of N seats in $PLAYLISTS_HOME/class/ and serves that.
"""
import argparse
import os
import selectors
import signal
import socket
import subprocess
import sys
import time

from core.classroom import CARDS, addresses, prepare, public_host
from core.config import check_unsafe_allowed, load_settings

SERVERS = {  # name: (default plain port, default TLS port)
    "rest": (8080, 8443),
    "soap": (8081, 8444),
    "rpc": (50051, 50052),
}
COLOURS = {"rest": "\033[36m", "soap": "\033[35m", "rpc": "\033[33m"}


def prefix(name: str) -> str:
    if not sys.stdout.isatty():
        return f"{name:<4} │ "
    return f"{COLOURS[name]}{name:<4}\033[0m │ "


def start(name: str, host: str, log=subprocess.PIPE) -> subprocess.Popen:
    port, tls_port = SERVERS[name]
    return subprocess.Popen([sys.executable, "-u", "-m", name, "--host", host, "--port", str(port),
                             "--tls-port", str(tls_port)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_until_listening(host: str, port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"serve: nothing answers on {host}:{port}; see the log above")


def pump(processes: dict, selector, until) -> None:
    """Copy each server's output to ours, line by line, with its name in front."""
    while not until():
        for key, _ in selector.select(timeout=0.1):
            line = key.fileobj.readline()
            if line:
                sys.stdout.write(prefix(key.data) + line.decode(errors="replace"))
                sys.stdout.flush()
            else:
                selector.unregister(key.fileobj)
        if any(p.poll() is not None for p in processes.values()) and not until():
            dead = [n for n, p in processes.items() if p.poll() is not None]
            raise SystemExit(f"serve: {', '.join(dead)} stopped unexpectedly")


def stop(processes: dict) -> None:
    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def serve_a_class(host: str, seats: int) -> None:
    """Prepare the room, and have the three servers (and their pages) serve it."""
    ports = {"rest": SERVERS["rest"], "soap": SERVERS["soap"], "grpc": SERVERS["rpc"]}
    room = prepare(load_settings().home, seats, host, ports)
    servers = addresses(public_host(host), ports)
    os.environ.update(PLAYLISTS_HOME=str(room), PLAYLISTS_SOAP_URL=servers["soap"],
                      PLAYLISTS_GRPC_ADDRESS=servers["grpc"])
    check_unsafe_allowed(load_settings(), [host])
    print(f"serve: a class of {seats} seats in {room}; print {room / CARDS}; the trainer's key is in "
          f"{room / 'trainer.json'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address all three bind (default 127.0.0.1)")
    parser.add_argument("--demo", action="store_true",
                        help="run the side-by-side tour against the servers, then stop them")
    parser.add_argument("--class", dest="seats", type=int, metavar="N",
                        help="class mode: one sandbox per seat, N seats (core/classroom.py)")
    args = parser.parse_args()
    if args.seats:
        serve_a_class(args.host, args.seats)
    # In the demo the tour has the screen; the servers' call lines go to a file.
    log = open(os.path.join(os.environ.get("PLAYLISTS_HOME", ".demo"), "serve.log"), "a") if args.demo else None
    processes = {name: start(name, args.host, log or subprocess.PIPE) for name in SERVERS}
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    code = 0
    try:
        for name, process in processes.items():
            wait_until_listening(args.host, SERVERS[name][0], process)
        print(f"serve: REST http://{args.host}:8080   SOAP http://{args.host}:8081/soap   gRPC {args.host}:50051"
              f"   (mutual TLS: 8443, 8444, 50052)\n       start here: http://{args.host}:8080/", flush=True)
        if args.demo:
            code = subprocess.call([sys.executable, "-m", "clients.compare", "all"])
            print(f"\nThe servers' log of the tour: {log.name}")
        else:
            selector = selectors.DefaultSelector()
            for name, process in processes.items():
                selector.register(process.stdout, selectors.EVENT_READ, name)
            pump(processes, selector, lambda: bool(stopping))
    except KeyboardInterrupt:
        pass
    finally:
        stop(processes)
        print("serve: all servers stopped", flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
