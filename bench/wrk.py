"""Throughput measured with wrk, a load generator written in C (Debian's package `wrk`).

The benchmark's own client (httpx in threads, bench/load.py) spends about a millisecond of CPU
per request, on the same two cores as the server and PostgreSQL: at a few hundred requests per
second that is a sixth of the machine, taken from the server. wrk spends a few microseconds, so
its figure is the server's. Both run in the same benchmark, side by side.

wrk runs for a fixed time with a number of connections open, each sending its next request as
soon as the last one is answered. A Lua script rotates through the request bodies and, at the
end, prints one summary line that this module reads back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.load import CpuMeter, CpuUse

# Requests rotate through the bodies (one per line; JSON has no raw newlines). The summary line
# gives what wrk counted: status errors are answers outside 2xx and 3xx.
SCRIPT = """
local bodies = {}
local path = os.getenv("TIEPDAN_WRK_BODIES")
if path then
  for line in io.lines(path) do bodies[#bodies + 1] = line end
end
local counter = 0
wrk.method = os.getenv("TIEPDAN_WRK_METHOD") or "GET"

request = function()
  counter = counter + 1
  local body = nil
  if #bodies > 0 then body = bodies[(counter % #bodies) + 1] end
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "TIEPDAN-WRK requests=%d duration_us=%d status=%d connect=%d read=%d write=%d " ..
    "timeout=%d p50_us=%d p95_us=%d p99_us=%d\\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class WrkResult:
    name: str
    connections: int
    seconds: float
    answered: int  # answers in 2xx or 3xx
    failed: int  # other answers, and connections that broke or timed out
    p50_ms: float
    p95_ms: float
    p99_ms: float
    cpu: CpuUse | None = None

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0


def available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    base_url: str,
    path: str,
    *,
    name: str,
    connections: int,
    seconds: int,
    method: str = "GET",
    bodies: list[bytes] | None = None,
    headers: dict[str, str] | None = None,
    meter: CpuMeter | None = None,
) -> WrkResult:
    """Run wrk against `base_url + path` for `seconds` with `connections` open."""
    if not available():
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="tiepdan-wrk-") as work:
        script = Path(work) / "requests.lua"
        script.write_text(SCRIPT, encoding="utf-8")
        env = dict(os.environ)
        if bodies:
            if any(b"\n" in body for body in bodies):
                raise ValueError("a request body holds a newline; bodies are read one per line")
            body_file = Path(work) / "bodies.txt"
            body_file.write_bytes(b"\n".join(bodies) + b"\n")
            env["TIEPDAN_WRK_BODIES"] = str(body_file)
        command = [
            shutil.which("wrk") or "wrk",
            "--threads",
            "1",
            "--connections",
            str(connections),
            "--duration",
            f"{seconds}s",
            "--timeout",
            "30s",
            "--script",
            str(script),
        ]
        for key, value in (headers or {}).items():
            command += ["--header", f"{key}: {value}"]
        command.append(base_url + path)
        before = meter.snapshot() if meter else None
        result = subprocess.run(
            command,
            env={**env, "TIEPDAN_WRK_METHOD": method},
            capture_output=True,
            text=True,
            check=False,
            timeout=seconds + 120,
        )
        cpu = CpuMeter.use(before, meter.snapshot()) if meter and before else None
    return _parse(result, name=name, connections=connections, cpu=cpu)


def _parse(
    result: subprocess.CompletedProcess[str], *, name: str, connections: int, cpu: CpuUse | None
) -> WrkResult:
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("TIEPDAN-WRK ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")
    figures = {key: int(value) for key, value in (item.split("=") for item in line.split()[1:])}
    broken = sum(figures[key] for key in ("connect", "read", "write", "timeout"))
    return WrkResult(
        name=name,
        connections=connections,
        seconds=figures["duration_us"] / 1e6,
        answered=figures["requests"] - figures["status"],
        failed=figures["status"] + broken,
        p50_ms=figures["p50_us"] / 1000,
        p95_ms=figures["p95_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        cpu=cpu,
    )
