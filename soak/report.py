"""The soak's report: calls, errors by kind, latency per protocol, and the servers' memory."""
from clients.calls import PROTOCOLS

from .traffic import Tally


def percentile(values: list, fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def text(tally: Tally, args, ports: dict, memory: dict, extra_unexpected: list, seconds: float) -> str:
    """`memory`: {"before" | "warmed up" | "after": {protocol: (processes, RSS bytes)}}."""
    lines = [f"soak: {seconds:.0f} s, {args.concurrency} clients ({args.concurrency - args.hostile} well-behaved, "
             f"{args.hostile} hostile) on REST :{ports['rest']}, SOAP :{ports['soap']}, gRPC :{ports['grpc']}",
             f"calls: {tally.total()} ({tally.total() / seconds:.0f}/s): ok {tally.total('ok')}, expected refusals "
             f"{tally.total('refused')}, unexpected errors {tally.total('unexpected') + len(extra_unexpected)}"]
    for verdict, title in (("refused", "expected refusals, by kind"), ("unexpected", "UNEXPECTED errors, by kind")):
        rows = sorted(((p, k, n) for (v, p, k), n in tally.counts.items() if v == verdict))
        if rows:
            lines.append(f"  {title}:")
            lines += [f"    {p:4} {k:40} {n:6}" for p, k, n in rows]
    for (protocol, kind), example in tally.examples.items():
        lines.append(f"    e.g. {protocol} {kind}: {example}")
    lines += [f"    {problem}" for problem in extra_unexpected]
    lines.append("  latency of the well-behaved calls (ms):   calls     p50     p99     max")
    for protocol in (*PROTOCOLS, "grpc stream"):
        lines.append(latency_row(protocol, tally.latency[protocol]))
    lines.append(latency_row("all unary calls", [v for p in PROTOCOLS for v in tally.latency[p]]))
    lines.append("  server memory, RSS of all the server's processes:   before    warmed up     at the end")
    for kind in PROTOCOLS:
        (n0, before), (_, warm), (n1, after) = (memory[moment][kind] for moment in ("before", "warmed up", "after"))
        lines.append(f"    {kind:4} ({n0} -> {n1} processes) {'':14} {before / 2**20:7.1f} MB {warm / 2**20:9.1f} MB "
                     f"{after / 2**20:9.1f} MB  (after warm-up {(after - warm) / 2**20:+.1f} MB)")
    return "\n".join(lines)


def latency_row(label: str, values: list) -> str:
    return (f"    {label:36} {len(values):7} {percentile(values, .5) * 1000:7.1f} "
            f"{percentile(values, .99) * 1000:7.1f} {max(values, default=0) * 1000:7.1f}")


def figures(tally: Tally, args, memory: dict, unexpected: int, seconds: float) -> dict:
    """The same figures, for --json."""
    return {"seconds": seconds, "concurrency": args.concurrency, "hostile": args.hostile, "calls": tally.total(),
            "ok": tally.total("ok"), "refused": tally.total("refused"), "unexpected": unexpected,
            "by_kind": [{"verdict": v, "protocol": p, "kind": k, "count": n} for (v, p, k), n in tally.counts.items()],
            "p99_ms": {p: percentile(tally.latency[p], .99) * 1000 for p in PROTOCOLS},
            "rss_mb": {k: {"before": memory["before"][k][1] / 2**20, "warmed_up": memory["warmed up"][k][1] / 2**20,
                           "after": memory["after"][k][1] / 2**20} for k in PROTOCOLS}}
