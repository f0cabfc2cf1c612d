"""The benchmark's smoke test: the smallest run, end to end. It asserts the shape of the
report and that nothing failed, never a speed: speed goals live in the report's targets, not in tests."""
import os
import subprocess
import sys
from pathlib import Path

from bench.__main__ import build_parser

ROOT = Path(__file__).resolve().parent.parent
SMALLEST = ["--quick", "--concurrency", "1", "--duration", "0.5", "--warmup", "0.2", "--load-processes", "1"]


def bench_processes() -> list[str]:
    """Command lines of this checkout's running bare baselines (the benchmark must leave none
    behind); another checkout's benchmark on the same machine is none of this test's business."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = Path(os.readlink(f"/proc/{entry}/cwd"))
        except OSError:
            continue
        if "bench.bare_" in command and cwd == ROOT:
            found.append(command)
    return found


def test_every_option_has_help():
    parser = build_parser()
    assert all(action.help for action in parser._actions)


def test_smallest_run_reports_every_row_without_errors(tmp_path):
    run = subprocess.run([sys.executable, "-m", "bench", *SMALLEST, "--out", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = (tmp_path / "latest.md").read_text()
    for protocol in ("REST", "SOAP", "gRPC"):
        real = [line for line in report.splitlines() if line.startswith(f"| {protocol} | GetPlaylist | 1 |")]
        bare = [line for line in report.splitlines() if line.startswith(f"| bare {protocol} | GetPlaylist | 1 |")]
        assert len(real) == 1 and len(bare) == 1, report
        for row in real + bare:
            assert row.rstrip(" |").endswith("| 0"), f"errors in: {row}"
    for section in ("## Bytes on the wire", "## Server memory", "## Serialization", "## Targets"):
        assert section in report
    for codec in ("JSON", "SOAP 1.1 envelope", "protobuf"):
        assert f"| {codec}" in report
    assert (tmp_path / "latest.png").read_bytes().startswith(b"\x89PNG")
    assert bench_processes() == []
