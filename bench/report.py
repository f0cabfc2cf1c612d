"""The results as Markdown: one progress line per measurement while running, then the tables."""
import math
import os
import platform
from datetime import datetime, timezone

from . import wire
from .calls import OPERATIONS
from .runner import TARGET_CONCURRENCY, TARGET_ROUNDS

NAMES = {"rest": "REST", "soap": "SOAP", "grpc": "gRPC"}
PAIRS = (("soap", "rest"), ("grpc", "rest"), ("grpc", "soap"))  # "SOAP÷REST", "gRPC÷REST", "gRPC÷SOAP"
FIGURES = (("calls/s", lambda m: m.rps), ("p50 ms", lambda m: m.percentile_ms(50)),
           ("p99 ms", lambda m: m.percentile_ms(99)), ("server CPU ms/call", lambda m: m.cpu_ms_per_call))
MB = 1024 * 1024


def num(value: float) -> str:
    """Three significant figures or so: 1234, 123, 12.3, 1.23."""
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def ratio(a: float, b: float) -> str:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return "–"
    return f"{a / b:.2f}×"


def table(header: list, rows: list) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def progress_line(done: int, total: int, elapsed: float, m) -> str:
    return (f"[{done:>2}/{total}] {elapsed:4.0f}s  {NAMES[m.protocol]:<4} {m.variant:<4} {OPERATIONS[m.op]:<19} "
            f"c={m.concurrency:<3} {m.rps:7.0f} calls/s  p50 {m.percentile_ms(50):6.1f} ms  "
            f"p99 {m.percentile_ms(99):6.1f} ms  CPU {m.cpu_ms_per_call:5.2f} ms/call  errors {m.errors}"
            + (f" ({m.first_error})" if m.errors else ""))


def errors_cell(m) -> str:
    return f"{m.errors} ({m.first_error})" if m.errors else "0"


# --- the tables --------------------------------------------------------------------------------

def rows_of(results):
    """(protocol, op, concurrency) of every real/bare pair, in run order."""
    s = results.settings
    return [(p, op, c) for p in s.protocols for op in s.ops for c in s.concurrency]


def real_table(results) -> str:
    rows = []
    for protocol, op, c in rows_of(results):
        real, bare = results.find(protocol, "real", op, c), results.find(protocol, "bare", op, c)
        if real and bare:
            rows.append([NAMES[protocol], OPERATIONS[op], c]
                        + [f"{num(f(real))} ({ratio(f(real), f(bare))})" for _, f in FIGURES] + [errors_cell(real)])
    return table(["protocol", "operation", "c"] + [name for name, _ in FIGURES] + ["errors"], rows)


def bare_table(results) -> str:
    rows = []
    for protocol, op, c in rows_of(results):
        bare = results.find(protocol, "bare", op, c)
        if bare:
            rows.append([f"bare {NAMES[protocol]}", OPERATIONS[op], c] + [num(f(bare)) for _, f in FIGURES]
                        + [errors_cell(bare)])
    return table(["baseline", "operation", "c"] + [name for name, _ in FIGURES] + ["errors"], rows)


def versus_table(results) -> str:
    """The protocols as ratios to each other, for the real servers and for the bare ones."""
    s = results.settings
    pairs = [(a, b) for a, b in PAIRS if a in s.protocols and b in s.protocols]
    header = ["operation", "c", "figure"] + [NAMES[p] for p in s.protocols] \
        + [f"{NAMES[a]}÷{NAMES[b]}" for a, b in pairs] + [f"bare {NAMES[a]}÷{NAMES[b]}" for a, b in pairs]
    rows = []
    for op in s.ops:
        for c in s.concurrency:
            for name, figure in FIGURES:
                def value(protocol, variant):
                    m = results.find(protocol, variant, op, c)
                    return figure(m) if m else None
                rows.append([OPERATIONS[op], c, name] + [num(value(p, "real")) for p in s.protocols]
                            + [ratio(value(a, "real"), value(b, "real")) for a, b in pairs]
                            + [ratio(value(a, "bare"), value(b, "bare")) for a, b in pairs])
    return table(header, rows)


def wire_table(results) -> str:
    s = results.settings
    header = ["operation", "server"] + [f"{NAMES[p]} {d}" for p in s.protocols for d in ("request", "response")]
    others = [p for p in s.protocols if p != "rest"] if "rest" in s.protocols else []
    header += [f"{NAMES[p]}÷REST response" for p in others]
    rows = []
    for op in s.ops:
        for variant in ("real", "bare"):
            sizes = {p: results.wire.get((p, variant, op)) for p in s.protocols}
            if None in sizes.values():
                continue
            rows.append([OPERATIONS[op], variant]
                        + [f"{v:.0f}" for p in s.protocols for v in (sizes[p].request, sizes[p].response)]
                        + [ratio(sizes[p].response, sizes["rest"].response) for p in others])
    return table(header, rows)


def memory(results, protocol: str, variant: str):
    """RSS after the warm-up and after the last measurement (Basic auth's excluded), or Nones."""
    return results.memory.get((protocol, variant)) or (None, None)


def growth(before, after) -> float:
    return (after - before) / before * 100 if before else float("nan")


def memory_table(results) -> str:
    rows = []
    for protocol in results.settings.protocols:
        for variant in ("real", "bare"):
            before, after = memory(results, protocol, variant)
            if before and after:
                rows.append([f"{variant} {NAMES[protocol]}" if variant == "bare" else NAMES[protocol],
                             f"{before / MB:.1f}", f"{after / MB:.1f}", f"{growth(before, after):+.1f}%"])
    return table(["server", "RSS after warm-up, MB", "RSS at the end, MB", "growth"], rows)


MEMORY_NOTE = ("The warm-up runs every operation at the highest concurrency, uncounted; the end is after the "
               "last measurement (before Basic auth, whose scrypt takes 16 MB a call).")


def basic_table(results) -> str:
    rows = []
    for protocol in results.settings.protocols:
        key = results.find(protocol, "real", "get_playlist", 1)
        basic = results.find(protocol, "real", "get_playlist_basic", 1)
        if key and basic:
            rows.append([NAMES[protocol], num(key.percentile_ms(50)), num(key.cpu_ms_per_call),
                         num(basic.percentile_ms(50)), num(basic.cpu_ms_per_call),
                         ratio(basic.cpu_ms_per_call, key.cpu_ms_per_call), errors_cell(basic)])
    return table(["protocol", "API key: p50 ms", "API key: CPU ms/call", "Basic: p50 ms", "Basic: CPU ms/call",
                  "Basic÷API key CPU", "errors"], rows)


def codec_table(results) -> str:
    proto = next((c for c in results.codecs if c.name == "protobuf"), None)
    rows = [[c.name, c.size, ratio(c.size, proto.size if proto else None), num(c.encode_us), num(c.decode_us)]
            for c in results.codecs]
    return table(["format", "bytes", "÷protobuf", "encode µs", "decode µs"], rows)


# --- the speed targets -------------------------------------------------------------------------

# The share of its bare baseline's calls/s each protocol's GetPlaylist must keep at c=16.
# SOAP's is higher: Spyne's own serialisation dominates, so our code should hardly show.
SHARE = {"rest": 0.60, "soap": 0.80, "grpc": 0.60}
P99_FLOOR_MS, P99_OVER_BARE = 50, 1.5   # p99 within max(50 ms, 1.5 × the bare p99)


def summary_table(results) -> str:
    """GetPlaylist at c=16, real against bare: what our own code costs each protocol per call."""
    rows = []
    for protocol in results.settings.protocols:
        real = results.find(protocol, "real", "get_playlist", TARGET_CONCURRENCY)
        bare = results.find(protocol, "bare", "get_playlist", TARGET_CONCURRENCY)
        if real and bare:
            rows.append([NAMES[protocol], f"{num(real.rps)} / {num(bare.rps)}", ratio(real.rps, bare.rps),
                         f"{num(real.cpu_ms_per_call)} / {num(bare.cpu_ms_per_call)}",
                         num(real.cpu_ms_per_call - bare.cpu_ms_per_call),
                         f"{num(real.percentile_ms(99))} / {num(bare.percentile_ms(99))}", errors_cell(real)])
    return table(["protocol", "calls/s real / bare", "ratio", "server CPU ms/call real / bare",
                  "our code, ms/call", "p99 ms real / bare", "errors"], rows)


def targets(results) -> list:
    """[target, {protocol: (measured text, held?)}] for the four targets, where measured."""
    s, c = results.settings, TARGET_CONCURRENCY
    share, p99, errors, rss = {}, {}, {}, {}
    for protocol in s.protocols:
        real = results.find(protocol, "real", "get_playlist", c)
        bare = results.find(protocol, "bare", "get_playlist", c)
        if real and bare:
            share[protocol] = (f"{real.rps / bare.rps:.2f}× (target {SHARE[protocol]:.2f}×)",
                               real.rps >= SHARE[protocol] * bare.rps)
            bound = max(P99_FLOOR_MS, P99_OVER_BARE * bare.percentile_ms(99))
            p99[protocol] = (f"{num(real.percentile_ms(99))} ms (bound {num(bound)} ms)",
                             real.percentile_ms(99) <= bound)
        real_runs = [m for m in results.measurements if (m.protocol, m.variant) == (protocol, "real")]
        count = sum(m.errors for m in real_runs)
        errors[protocol] = (f"{count} in {sum(len(m.latencies) for m in real_runs) + count} calls", count == 0)
        before, after = memory(results, protocol, "real")
        if before and after:
            rss[protocol] = (f"{growth(before, after):+.1f}%", growth(before, after) < 10)
    return [(f"GetPlaylist at c={c}: calls/s against the bare baseline's", share),
            (f"GetPlaylist at c={c}: p99 ≤ max({P99_FLOOR_MS} ms, {P99_OVER_BARE} × bare p99)", p99),
            ("zero errors (all real measurements)", errors),
            ("RSS growth < 10% after warm-up", rss)]


def targets_table(results) -> str:
    protocols = results.settings.protocols
    rows = []
    for name, by_protocol in targets(results):
        cells = []
        for p in protocols:
            measured = by_protocol.get(p)
            cells.append(f"{'✓' if measured[1] else '✗ missed'} {measured[0]}" if measured else "not measured")
        rows.append([name] + cells)
    return table(["target"] + [NAMES[p] for p in protocols], rows)


# --- the whole page ------------------------------------------------------------------------------

def machine() -> str:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model or platform.machine()}), Python {platform.python_version()}, " \
           f"{platform.system()} {platform.release()}"


def markdown(results, command: str, wall_seconds: float, others_cores: float) -> str:
    """The whole report; `others_cores` is how many cores other programs kept busy meanwhile."""
    s = results.settings
    parts = [
        "# Benchmark: REST, SOAP and gRPC over one core",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · {machine()}  \n"
        f"`{command}` · wall time {wall_seconds:.0f} s · {s.duration:g} s measured after {s.warmup:g} s of "
        f"warm-up per measurement · {s.load_processes} load processes · c = calls in flight  \n"
        f"Other programs on this machine kept {others_cores:.2f} of its {os.cpu_count()} cores busy during "
        "the run" + (": absolute figures are disturbed, ratios much less so." if others_cores > 0.1 else "."),
        f"## GetPlaylist at c={TARGET_CONCURRENCY}: each protocol against its bare framework",
        "Same run, same load. *Our code* is the server CPU per call above the bare baseline's: authentication, "
        "the shared rate limit, validation, SQLite, the call journal, the outgoing scan.",
        summary_table(results),
        "## Real servers (in brackets: the ratio to the bare baseline, same run, same load)",
        real_table(results),
        "## Bare baselines (the same payloads from memory, by the bare framework)",
        bare_table(results),
        "## The protocols against each other",
        versus_table(results),
        "## Bytes on the wire per call",
        "Counted by a TCP relay between client and server: everything on the connection "
        "(HTTP/1.1 headers and body; HTTP/2 frames, HPACK headers, gRPC's 5-byte prefix and trailers), "
        f"averaged over {wire.CALLS} calls on one warm connection.",
        wire_table(results),
        "## Server memory (RSS of the whole process tree)",
        MEMORY_NOTE,
        memory_table(results),
    ]
    if s.basic:
        parts += ["## The price of Basic auth (GetPlaylist, c=1): a password KDF on every call",
                  basic_table(results)]
    parts += ["## Serialization of the 10-track playlist (in process, best of several rounds)",
              codec_table(results),
              "## Targets",
              targets_table(results),
              "## How it was measured",
              NOTES]
    return "\n\n".join(parts) + "\n"


NOTES = f"""\
- Each server runs as users run it, on a fresh `$PLAYLISTS_HOME` and free loopback ports: `python -m rest`
  and `python -m soap` under gunicorn (2 gevent workers), `python -m rpc` as 2 processes of 4 threads;
  the rate limiter counts every call against a limit too high to refuse. The bare baselines run under the
  very same settings (`bench/bare_*.py`: serve/wsgi.py's gunicorn and gevent, or the same gRPC processes).
- Clients are separate processes (closed loop: a thread sends its next call when the answer arrives);
  each thread keeps its own connection: a `requests.Session` for HTTP, a channel for gRPC.
- GetPlaylist at c={TARGET_CONCURRENCY}, the targets' measurement, is made in {TARGET_ROUNDS} rounds, real and bare turn
  about; every table shows each one's median round (by calls/s). Each round opens fresh connections, and
  how the kernel shares them between a server's processes moves one round's p99 by half.
- Server CPU is user + system time of the server's whole process tree from `/proc`, before and after the
  window, divided by the calls in the window. Client and server share the same 2 cores.
- RSS is summed over the tree (pages shared between gunicorn workers count once per worker).
- p99 is the call that one in a hundred is slower than: a user making a hundred calls meets it every time,
  and a mean would hide it. Real and bare are measured turn about, so their ratio survives a busy machine;
  server CPU per call is the steadiest figure of all."""
