"""The PNG chart: calls/s and p99 latency against concurrency, one column per operation.

Solid lines are the real servers, dashed lines their bare baselines, in the protocol's
colour: the gap between a solid line and its dashed twin is the price of our own code.
"""
import matplotlib

matplotlib.use("Agg")  # draw to a file; no display needed
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from .calls import OPERATIONS  # noqa: E402
from .report import NAMES  # noqa: E402

COLOURS = {"rest": "#1f77b4", "soap": "#9467bd", "grpc": "#d98c00"}
STYLES = {"real": "-", "bare": "--"}


def draw(results, path) -> None:
    s = results.settings
    positions = range(len(s.concurrency))  # evenly spaced: 1, 16 and 64 are categories, not a scale
    figure, axes = plt.subplots(2, len(s.ops), figsize=(max(7.0, 4.4 * len(s.ops)), 7.5), squeeze=False)
    for column, op in enumerate(s.ops):
        throughput, latency = axes[0][column], axes[1][column]
        for protocol in s.protocols:
            for variant, style in STYLES.items():
                runs = [results.find(protocol, variant, op, c) for c in s.concurrency]
                if None in runs:
                    continue
                label = f"{NAMES[protocol]}" + (" (bare)" if variant == "bare" else "")
                options = dict(linestyle=style, marker="o", color=COLOURS[protocol], label=label)
                throughput.plot(positions, [m.rps for m in runs], **options)
                latency.plot(positions, [m.percentile_ms(99) for m in runs], **options)
        throughput.set_title(OPERATIONS[op])
        throughput.set_ylabel("calls per second")
        throughput.set_ylim(bottom=0)
        latency.set_ylabel("p99 latency, ms (log scale)")
        latency.set_yscale("log")
        for axis in (throughput, latency):
            axis.set_xticks(list(positions), [str(c) for c in s.concurrency])
            axis.set_xlabel("calls in flight (concurrency)")
            axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize="small")
    figure.suptitle("REST, SOAP and gRPC: the real servers (solid lines)\nagainst their bare frameworks (dashed lines)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
