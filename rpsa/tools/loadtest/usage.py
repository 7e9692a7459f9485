"""CPU, memory and hypervisor steal from /proc: the sampler, its parsers and the window figures.

The parsers and the window computations are pure and follow loadgen.js's
``windowUsage`` and ``stealUsage``; :class:`ProcSampler` is the only part that
reads files.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Sequence

from rpsa.tools.loadtest.statistics import js_round, round1


def parse_proc_stat(text: str, clk_tck: float) -> float:
    """utime + stime in seconds, from the text of ``/proc/PID/stat``."""
    fields = text[text.rindex(")") + 2:].split(" ")
    return (int(fields[11]) + int(fields[12])) / clk_tck


def parse_vmrss_kb(text: str) -> Optional[int]:
    """VmRSS in kB from the text of ``/proc/PID/status``, or None."""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1])
    return None


def parse_steal(text: str) -> Dict[str, int]:
    """Per-CPU steal jiffies from the text of ``/proc/stat``."""
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) > 8 and f[0].startswith("cpu") and f[0][3:].isdigit():
            out[f[0]] = int(f[8])
    return out


def _mb(kb: Optional[float]) -> Optional[float]:
    """kB as MiB rounded to 0.1 (loadgen.js's ``mb``); None stays None."""
    return None if kb is None else js_round(kb / 102.4) / 10


def window_usage(samples: Sequence[Dict[str, float]], t0: float, t1: float) -> Optional[Dict[str, Any]]:
    """CPU% between the samples nearest ``t0`` and ``t1`` and RSS start/end/max (loadgen.js's ``windowUsage``).

    ``samples`` are ``{"t": ms, "cpu": seconds, "rssKb": kB}`` taken about once a second.
    """
    if len(samples) < 2:
        return None
    w = [s for s in samples if t0 - 600 <= s["t"] <= t1 + 600]
    if len(w) < 2:
        return None
    a, b = w[0], w[-1]
    per_sec = [
        100 * (w[i]["cpu"] - w[i - 1]["cpu"]) / ((w[i]["t"] - w[i - 1]["t"]) / 1000)
        for i in range(1, len(w))
        if w[i]["t"] - w[i - 1]["t"] >= 500
    ]
    rss = [s["rssKb"] for s in w if s.get("rssKb") is not None]
    return {
        "cpuPct": js_round(1000 * (b["cpu"] - a["cpu"]) / ((b["t"] - a["t"]) / 1000)) / 10 if b["t"] > a["t"] else None,
        "cpuPctMaxSample": round1(max(per_sec)) if per_sec else None,
        "rssMbStart": _mb(a.get("rssKb")),
        "rssMbEnd": _mb(b.get("rssKb")),
        "rssMbMax": _mb(max(rss)) if rss else None,
    }


def steal_usage(samples: Sequence[Dict[str, Any]], t0: float, t1: float, clk_tck: float) -> Optional[Dict[str, Any]]:
    """Per-CPU hypervisor steal % over the window and its max 1 s sample (loadgen.js's ``stealUsage``)."""
    w = [s for s in samples if t0 - 600 <= s["t"] <= t1 + 600]
    if len(w) < 2:
        return None
    a, b = w[0], w[-1]
    if b["t"] <= a["t"]:
        return None
    r = {}
    for k in b["v"]:
        mx = 0.0
        for i in range(1, len(w)):
            dt = (w[i]["t"] - w[i - 1]["t"]) / 1000
            if dt >= 0.5 and k in w[i]["v"] and k in w[i - 1]["v"]:
                mx = max(mx, 100 * (w[i]["v"][k] - w[i - 1]["v"][k]) / clk_tck / dt)
        if k in a["v"]:
            r[k] = {
                "pct": js_round(1000 * (b["v"][k] - a["v"][k]) / clk_tck / ((b["t"] - a["t"]) / 1000)) / 10,
                "maxPct1s": round1(mx),
            }
    return r


class ProcSampler:
    """Samples CPU time and VmRSS of some processes (and the host's steal time) from /proc.

    ``proc_root`` is where /proc is mounted (tests point it at a folder).
    """

    def __init__(self, proc_root: str = "/proc"):
        self._root = proc_root
        try:
            self.clk_tck = float(os.sysconf("SC_CLK_TCK"))
        except (ValueError, OSError, AttributeError):
            self.clk_tck = 100.0

    def _read(self, path: str) -> str:
        with open(os.path.join(self._root, path), encoding="ascii", errors="replace") as f:
            return f.read()

    def read(self, pid: int) -> Optional[Dict[str, Any]]:
        """``{"cpu": seconds, "rssKb": kB}`` of process ``pid``, or None if it cannot be read."""
        try:
            cpu = parse_proc_stat(self._read(f"{pid}/stat"), self.clk_tck)
            rss = parse_vmrss_kb(self._read(f"{pid}/status"))
        except (OSError, ValueError, IndexError):
            return None
        return {"cpu": cpu, "rssKb": rss}

    def steal(self) -> Optional[Dict[str, int]]:
        """Per-CPU steal jiffies of the host, or None if /proc/stat cannot be read."""
        try:
            return parse_steal(self._read("stat"))
        except (OSError, ValueError):
            return None
