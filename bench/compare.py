#!/usr/bin/env python3
"""Compare rpsa with the ceiling server (and the original, when it ran) in one ``bench/scenario.sh`` results
folder, and check the targets.

    python3 bench/compare.py bench/results/steady3000-20261121T220000Z [--json] [--cpu-ratio-max X] ...

The folder holds ``ceiling.jsonl``, ``rpsa.jsonl`` and, with ``ORIGINAL_DIR``, ``original.jsonl`` (one loadgen
JSON line per rep, written by the harness ``run.sh``), or ``launch.jsonl`` (one ``bench/launch.py`` line per
mode, labels ``cold`` and ``warm``), and ``scenario.json`` (how the scenario was run).  For each server the
median of every figure across reps is printed, then rpsa's ratio to each other server (rpsa/ceil, rpsa/orig),
then each target: PASS / FAIL; INFO: reported, no threshold; SKIP: a comparison with the original when it was
not part of the run; WARN: the measurement itself looks suspect.

Targets (issue 14's; each can be changed by an option):

* steady: rpsa tick jitter p99 (median of reps) < 100 ms and <= the ceiling's; zero errors in every rpsa rep;
  at 3000, 4000 and 6000 games CPU % rpsa/ceiling <= 1.25 (same game count and window, so the ratio of CPU
  per game-second) and rpsa/original < 1 (INFO at other counts).
* idle: rpsa RSS per idle game <= 20 KB, (RSS at N games - RSS at 0) / N from the per-step RSS checkpoints
  (``idleCheckpoints``); every game set up, zero errors.  The ceiling's and the original's figures are INFO.
* http: rpsa create+join pairs/s >= 2650 with p99 < 50 ms; zero errors; the ratios are INFO.
* launch: cold ``PUT /api/match`` p50 <= 300 ms; warm p99 <= 20 ms; zero errors.

Exit status: 0 if every target passed, 1 if one failed or had no data, 2 if the folder has no results.
The functions are pure (rows in, numbers and verdicts out) so ``tests/test_bench_compare.py`` can check them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

SERVERS = ("ceiling", "original", "rpsa")

# The targets of issue 14 (docs/performance.md); None: no threshold, INFO.
DEFAULT_LIMITS = {
    "jitter_p99_max_ms": 100.0,
    "jitter_ratio_max": 1.0,  # rpsa's p99 at or below the ceiling's
    "cpu_ratio_max": 1.25,  # CPU per game-second <= 1.25x the ceiling's ...
    "cpu_vs_original_max": 1.0,  # ... and below the original's ...
    "cpu_target_games": (3000, 4000, 6000),  # ... at these game counts (None: every count); INFO at others
    "kb_per_idle_game_max": 20.0,
    "http_pairs_min": 2650.0,
    "http_p99_max_ms": 50.0,
    "http_pairs_ratio_min": None,
    "cold_launch_p50_max_ms": 300.0,
    "warm_launch_p99_max_ms": 20.0,
}

# (name, how to get it from one loadgen row) per mode; a string is a dotted path into the row.
METRICS = {
    "steady": [
        ("jitter_p50_ms", "tickJitterMs.p50"), ("jitter_p99_ms", "tickJitterMs.p99"),
        ("jitter_max_ms", "tickJitterMs.max"), ("jitter_min_ms", "tickJitterMs.min"), ("jitter_n", "tickJitterMs.n"),
        ("cpu_pct", "server.cpuPct"), ("cpu_max_1s_pct", "server.cpuPctMaxSample"),
        ("cpu_us_per_game_s", lambda r: cpu_per(r, "games")),
        ("rss_end_mb", "server.rssMbEnd"), ("rss_max_mb", "server.rssMbMax"),
        ("errors_total", "errorsTotal"), ("errors_in_window", "errorsInWindow"),
        ("completed", "completed"), ("http_p99_ms", "httpLatencyMs.p99"),
        ("gen_cpu_pct", "generator.cpuPct"), ("gen_lag_p99_ms", "generator.loopDelayP99Ms"),
        ("steal_cpu0_pct", "steal.cpu0.pct"), ("steal_cpu1_pct", "steal.cpu1.pct"),
    ],
    "idle": [
        ("games_ready", lambda r: idle_games(r)), ("rss_at_0_mb", lambda r: idle_rss_mb(r, 0)),
        ("rss_at_n_mb", lambda r: idle_rss_mb(r, -1)), ("kb_per_idle_game", lambda r: kb_per_idle_game(r)),
        ("kb_last_step_slope", lambda r: kb_last_step_slope(r)),
        ("errors_total", "errorsTotal"), ("gen_cpu_pct", "generator.cpuPct"),
    ],
    "http": [
        ("pairs_per_s", "pairsPerSec"), ("http_ok_per_s", "httpOkPerSec"),
        ("http_p50_ms", "httpLatencyMs.p50"), ("http_p99_ms", "httpLatencyMs.p99"),
        ("cpu_pct", "server.cpuPct"), ("cpu_us_per_pair", lambda r: cpu_per(r, "pairsPerSec")),
        ("rss_end_mb", "server.rssMbEnd"), ("errors_total", "errorsTotal"), ("gen_cpu_pct", "generator.cpuPct"),
        ("steal_cpu0_pct", "steal.cpu0.pct"),
    ],
}
METRICS["once"] = METRICS["steady"]


# ------------------------------------------------------------------ reading


def get(row: Any, path: str) -> Any:
    """The value at a dotted ``path`` in nested dicts, or None where a key is missing."""
    for key in path.split("."):
        if not isinstance(row, dict) or key not in row:
            return None
        row = row[key]
    return row


def metric(row: Dict[str, Any], how) -> Any:
    """One metric of a row: ``how`` is a dotted path or a function of the row."""
    return how(row) if callable(how) else get(row, how)


def cpu_per(row: Dict[str, Any], per: str) -> Optional[float]:
    """Server CPU µs per unit of work a second: CPU % × 10 000 / ``row[per]`` (games, or pairs per second).

    Unlike CPU %, this hardly moves when other processes share the machine (as long as the server keeps up),
    so it is the figure to compare runs taken at different times.
    """
    cpu, n = get(row, "server.cpuPct"), row.get(per)
    if not isinstance(cpu, (int, float)) or not isinstance(n, (int, float)) or n <= 0:
        return None
    return round(cpu * 10_000 / n, 1)


def load_jsonl(path: str) -> List[Dict[str, Any]]:
    """The JSON objects of a JSONL file (blank lines skipped); [] if the file does not exist."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_results(folder: str) -> Dict[str, Any]:
    """The rows of a results folder: ``{"ceiling": [...], "original": [...], "rpsa": [...], "launch": [...],
    "meta": {...}}``."""
    meta_path = os.path.join(folder, "scenario.json")
    meta = {}
    if os.path.exists(meta_path):
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    out = {name: load_jsonl(os.path.join(folder, name + ".jsonl")) for name in (*SERVERS, "launch")}
    out["meta"] = meta
    return out


# ------------------------------------------------------------------ idle memory


def _checkpoints(row):
    cps = row.get("idleCheckpoints") or []
    return [c for c in cps if isinstance(c.get("rssMb"), (int, float)) and isinstance(c.get("games"), int)]


def idle_games(row: Dict[str, Any]) -> Optional[int]:
    """Games set up at the last idle checkpoint."""
    cps = _checkpoints(row)
    return cps[-1]["games"] if cps else None


def idle_rss_mb(row: Dict[str, Any], index: int) -> Optional[float]:
    """Server RSS (MB) at one idle checkpoint (0: before any game, -1: all games)."""
    cps = _checkpoints(row)
    return cps[index]["rssMb"] if cps else None


def kb_per_idle_game(row: Dict[str, Any]) -> Optional[float]:
    """(RSS at N games - RSS at 0) / N in KB, from the first and last idle checkpoints (None without games)."""
    cps = _checkpoints(row)
    if len(cps) < 2 or cps[-1]["games"] <= 0:
        return None
    return round((cps[-1]["rssMb"] - cps[0]["rssMb"]) * 1024 / cps[-1]["games"], 1)


def kb_last_step_slope(row: Dict[str, Any]) -> Optional[float]:
    """KB per game added by the last idle step alone (None with fewer than two steps)."""
    cps = _checkpoints(row)
    if len(cps) < 3 or cps[-1]["games"] <= cps[-2]["games"]:
        return None
    return round((cps[-1]["rssMb"] - cps[-2]["rssMb"]) * 1024 / (cps[-1]["games"] - cps[-2]["games"]), 1)


# ------------------------------------------------------------------ medians and ratios


def median(values: Sequence[Any]) -> Optional[float]:
    """Median of the numeric values (None and non-numbers skipped), or None if there are none."""
    nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return statistics.median(nums) if nums else None


def mode_of(rows: Sequence[Dict[str, Any]]) -> Optional[str]:
    """The loadgen mode of the rows (the first row's), or None for no rows."""
    return rows[0].get("mode") if rows else None


def summarize(rows: Sequence[Dict[str, Any]], mode: str) -> Dict[str, Optional[float]]:
    """The median across reps of every metric of ``mode``; ``reps`` is the number of rows."""
    out: Dict[str, Optional[float]] = {"reps": len(rows)}
    for name, how in METRICS[mode]:
        out[name] = median([metric(r, how) for r in rows])
    return out


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    """a / b, or None if either is missing or b is 0."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def max_over(rows: Sequence[Dict[str, Any]], path: str) -> Optional[float]:
    """The largest numeric value of ``path`` over the rows (None if none has it)."""
    vals = [get(r, path) for r in rows if isinstance(get(r, path), (int, float))]
    return max(vals) if vals else None


def min_over(rows: Sequence[Dict[str, Any]], path: str) -> Optional[float]:
    """The smallest numeric value of ``path`` over the rows (None if none has it)."""
    vals = [get(r, path) for r in rows if isinstance(get(r, path), (int, float))]
    return min(vals) if vals else None


# ------------------------------------------------------------------ targets


def check(name: str, value: Optional[float], limit: Optional[float], op: str) -> Dict[str, Any]:
    """One target: PASS/FAIL of ``value op limit`` (op '<', '<=', '>=', '=='); INFO with no limit; FAIL if no value."""
    if limit is None:
        verdict = "INFO"
    elif value is None:
        verdict = "FAIL"
    else:
        ok = {"<": value < limit, "<=": value <= limit, ">=": value >= limit, "==": value == limit}[op]
        verdict = "PASS" if ok else "FAIL"
    return {"target": name, "value": value, "op": op, "limit": limit, "verdict": verdict}


def versus(name: str, rows: Optional[Sequence[Dict[str, Any]]], value: Optional[float], limit: Optional[float],
           op: str) -> Dict[str, Any]:
    """A check against another server: SKIP when that server was not part of the run (``rows`` None)."""
    if rows is None:
        return {"target": name + " (not in this run)", "value": None, "op": op, "limit": limit, "verdict": "SKIP"}
    return check(name, value, limit, op)


def warn(name: str, value: Any) -> Dict[str, Any]:
    """A note that the measurement itself looks suspect (not a target)."""
    return {"target": name, "value": value, "op": "", "limit": None, "verdict": "WARN"}


def cpu_limits(games: Any, lim: Dict[str, Any]) -> Tuple[Optional[float], Optional[float]]:
    """The CPU limits (ratio to the ceiling, ratio to the original) at this game count: None (INFO) off target."""
    counts = lim["cpu_target_games"]
    if counts is not None and games not in counts:
        return None, None
    return lim["cpu_ratio_max"], lim["cpu_vs_original_max"]


def evaluate(mode: str, ceiling: Optional[Sequence[Dict[str, Any]]], rpsa: Sequence[Dict[str, Any]],
             limits: Optional[Dict[str, Any]] = None,
             original: Optional[Sequence[Dict[str, Any]]] = None) -> List[Dict[str, Any]]:
    """The target checks of one loadgen ``mode`` (steady, once, idle, http).

    ``ceiling`` or ``original`` None: that server was not part of the run, and the comparisons with it SKIP.
    """
    lim = dict(DEFAULT_LIMITS, **(limits or {}))
    ceiling_ran = ceiling
    ceiling = ceiling or []
    c, r = summarize(ceiling, mode), summarize(rpsa, mode)
    o = summarize(original or [], mode)
    checks = []
    if mode in ("steady", "once"):
        checks.append(check("rpsa jitter p99 ms (median of reps) < limit", r["jitter_p99_ms"],
                            lim["jitter_p99_max_ms"], "<"))
        checks.append(check("rpsa errors, worst rep == 0", max_over(rpsa, "errorsTotal"), 0, "=="))
        games = rpsa[0].get("games") if rpsa else None
        vs_ceiling, vs_original = cpu_limits(games, lim)
        checks.append(versus("CPU % rpsa/ceiling (CPU per game-second)", ceiling_ran,
                             ratio(r["cpu_pct"], c["cpu_pct"]), vs_ceiling, "<="))
        checks.append(versus("CPU % rpsa/original", original, ratio(r["cpu_pct"], o["cpu_pct"]), vs_original, "<"))
        checks.append(versus("jitter p99 rpsa/ceiling", ceiling_ran, ratio(r["jitter_p99_ms"], c["jitter_p99_ms"]),
                             lim["jitter_ratio_max"], "<="))
        if r["jitter_p99_ms"] is not None and c["jitter_p99_ms"] is not None:
            checks.append(check("jitter p99 ms rpsa - ceiling (setup's share removed)",
                                round(r["jitter_p99_ms"] - c["jitter_p99_ms"], 1), None, "<"))
        checks.append(versus("jitter p99 rpsa/original", original, ratio(r["jitter_p99_ms"], o["jitter_p99_ms"]),
                             None, "<="))
        checks.append(versus("CPU % original/ceiling (the original's own ratio)", original,
                             ratio(o["cpu_pct"], c["cpu_pct"]), None, "<="))
        for name, rows in (("rpsa", rpsa), ("ceiling", ceiling), ("original", original or [])):
            hi, lo = max_over(rows, "tickJitterMs.max"), min_over(rows, "tickJitterMs.min")
            if (hi is not None and hi >= 900) or (lo is not None and lo <= -900):
                checks.append(warn(f"{name}: ±1000 ms jitter outliers (burst pattern differs, or stalls)", [lo, hi]))
        if original:
            checks.append(check("original errors, worst rep", max_over(original, "errorsTotal"), None, "=="))
    elif mode == "idle":
        checks.append(check("rpsa KB per idle game (absolute) <= limit", r["kb_per_idle_game"],
                            lim["kb_per_idle_game_max"], "<="))
        want = rpsa[0].get("games") if rpsa else None
        worst_ready = min((idle_games(x) or 0) for x in rpsa) if rpsa else None
        checks.append(check("rpsa games set up, worst rep == requested", worst_ready, want, "=="))
        checks.append(check("rpsa errors, worst rep == 0", max_over(rpsa, "errorsTotal"), 0, "=="))
        checks.append(check("ceiling KB per idle game (Node, reference only)", c["kb_per_idle_game"], None, "<="))
        checks.append(versus("original KB per idle game", original, o["kb_per_idle_game"], None, "<="))
        checks.append(versus("KB per idle game rpsa/original", original,
                             ratio(r["kb_per_idle_game"], o["kb_per_idle_game"]), None, "<="))
    elif mode == "http":
        checks.append(check("rpsa pairs/s (median of reps) >= limit", r["pairs_per_s"], lim["http_pairs_min"], ">="))
        checks.append(check("rpsa HTTP p99 ms (median of reps) < limit", r["http_p99_ms"], lim["http_p99_max_ms"], "<"))
        checks.append(check("rpsa errors, worst rep == 0", max_over(rpsa, "errorsTotal"), 0, "=="))
        checks.append(versus("pairs/s rpsa/ceiling", ceiling_ran, ratio(r["pairs_per_s"], c["pairs_per_s"]),
                             lim["http_pairs_ratio_min"], ">="))
        checks.append(versus("pairs/s rpsa/original", original, ratio(r["pairs_per_s"], o["pairs_per_s"]), None, ">="))
    else:
        raise ValueError(f"unknown loadgen mode {mode!r}")
    if mode != "idle" and max_over(ceiling, "errorsTotal"):
        checks.append(warn("ceiling had errors: the setup, not rpsa, is suspect", max_over(ceiling, "errorsTotal")))
    return checks


def launch_summary(rows: Sequence[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Per label (cold, warm): median across runs of launch p50/p99/max, the pause, errors summed."""
    out: Dict[str, Dict[str, Any]] = {}
    for label in sorted({r.get("label") for r in rows}, key=str):
        rs = [r for r in rows if r.get("label") == label]
        out[str(label)] = {
            "runs": len(rs),
            "launches": sum(r.get("ok", 0) for r in rs),
            "p50_ms": median([get(r, "launchMs.p50") for r in rs]),
            "p99_ms": median([get(r, "launchMs.p99") for r in rs]),
            "max_ms": max_over(rs, "launchMs.max"),
            "pause_s": median([r.get("pauseS") for r in rs]),
            "initial_wait_ms": max_over(rs, "initialWaitMs"),
            "refill_wait_max_ms": max_over(rs, "refillWaitMs.max"),
            "delete_p50_ms": median([get(r, "deleteMs.p50") for r in rs]),
            "errors_total": sum(r.get("errorsTotal", 0) for r in rs),
        }
    return out


def evaluate_launch(rows: Sequence[Dict[str, Any]], limits: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """The launch targets: cold p50, warm p99, zero errors (a missing mode FAILs its target)."""
    lim = dict(DEFAULT_LIMITS, **(limits or {}))
    s = launch_summary(rows)
    cold, warm = s.get("cold", {}), s.get("warm", {})
    return [
        check("cold launch p50 ms <= limit", cold.get("p50_ms"), lim["cold_launch_p50_max_ms"], "<="),
        check("warm launch p99 ms <= limit", warm.get("p99_ms"), lim["warm_launch_p99_max_ms"], "<="),
        check("launch errors (cold + warm) == 0",
              (cold.get("errors_total", 0) + warm.get("errors_total", 0)) if s else None, 0, "=="),
    ]


# ------------------------------------------------------------------ report


def fmt(v: Any) -> str:
    """A number for the table: ints as they are, floats to 3 significant-ish places, None as '-'."""
    if v is None:
        return "-"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int) or float(v).is_integer():
        return str(int(v))
    return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"


def rows_of(results: Dict[str, Any], server: str) -> Optional[List[Dict[str, Any]]]:
    """A server's rows, or None if it was not part of the run (no rows, and scenario.json does not name it)."""
    rows = results.get(server) or []
    if rows or server in ((results.get("meta") or {}).get("servers") or []):
        return rows
    return None


def table(results: Dict[str, Any], mode: str) -> List[str]:
    """The medians of every server that ran, and rpsa's ratio to each of the others."""
    ran = [n for n in SERVERS if rows_of(results, n) is not None]
    sums = {n: summarize(results.get(n) or [], mode) for n in ran}
    others = [n for n in ran if n != "rpsa"] if "rpsa" in ran else []
    head = "metric".ljust(22) + "".join(n.rjust(12) for n in ran) + "".join(
        ("rpsa/" + n[:4]).rjust(12) for n in others)
    lines = [f"mode {mode}: medians across reps", head]
    for name in sums[ran[0]]:
        cells = "".join(fmt(sums[n][name]).rjust(12) for n in ran)
        r = sums["rpsa"][name] if "rpsa" in sums else None
        for n in others:
            b = sums[n][name]
            cells += fmt(None if name == "reps" or (b or 0) <= 0 or (r or 0) < 0 else ratio(r, b)).rjust(12)
        lines.append(name.ljust(22) + cells)
    for name in ran:
        errs: Dict[str, int] = {}
        for row in results.get(name) or []:
            for k, v in (row.get("errors") or {}).items():
                errs[k] = errs.get(k, 0) + v
        if errs:
            lines.append(f"{name} errors by kind (all reps): {errs}")
    return lines


def report(results: Dict[str, Any], limits: Optional[Dict[str, Any]] = None) -> Tuple[str, List[Dict[str, Any]]]:
    """The printable report of a results folder and its target checks."""
    lines = []
    meta = results.get("meta") or {}
    if meta:
        lines.append(f"scenario {meta.get('scenario')}  reps {meta.get('reps')}  duration {meta.get('duration')}  "
                     f"started {meta.get('started')}  commit {meta.get('commit')}")
        if meta.get("loadgen_args"):
            lines.append(f"loadgen: {meta['loadgen_args']}")
    checks: List[Dict[str, Any]] = []
    if results.get("launch"):
        s = launch_summary(results["launch"])
        cols = ["runs", "launches", "p50_ms", "p99_ms", "max_ms", "pause_s", "initial_wait_ms", "refill_wait_max_ms",
                "delete_p50_ms", "errors_total"]
        lines.append("mode".ljust(6) + "".join(c.rjust(max(9, len(c) + 1)) for c in cols))
        for label, row in s.items():
            lines.append(label.ljust(6) + "".join(fmt(row[c]).rjust(max(9, len(c) + 1)) for c in cols))
        checks += evaluate_launch(results["launch"], limits)
    if any(results.get(n) for n in SERVERS):
        mode = mode_of(next(results[n] for n in ("rpsa", "ceiling", "original") if results.get(n)))
        lines += table(results, mode)
        checks += evaluate(mode, rows_of(results, "ceiling"), results.get("rpsa") or [], limits,
                           rows_of(results, "original"))
    lines.append("targets:")
    for ck in checks:
        limit = "" if ck["limit"] is None else f" (limit {ck['op']} {fmt(ck['limit'])})"
        val = ck["value"] if isinstance(ck["value"], list) else fmt(ck["value"])
        lines.append(f"  {ck['verdict']:<5} {ck['target']}: {val}{limit}")
    return "\n".join(lines), checks


def games_list(text: str) -> Optional[Tuple[int, ...]]:
    """``--cpu-target-games``: comma-separated game counts, or ``all`` (None: every count)."""
    if text.strip().lower() == "all":
        return None
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of game counts: {text!r}") from None


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Compare rpsa with the ceiling (and the original) in a results folder.")
    p.add_argument("folder")
    p.add_argument("--json", action="store_true", help="print the checks as JSON after the table")
    d = DEFAULT_LIMITS
    p.add_argument("--jitter-p99-max", type=float, default=d["jitter_p99_max_ms"])
    p.add_argument("--jitter-ratio-max", type=float, default=d["jitter_ratio_max"], help="rpsa/ceiling p99")
    p.add_argument("--cpu-ratio-max", type=float, default=d["cpu_ratio_max"], help="CPU %% rpsa/ceiling")
    p.add_argument("--cpu-vs-original-max", type=float, default=d["cpu_vs_original_max"],
                   help="CPU %% rpsa/original (strictly below)")
    p.add_argument("--cpu-target-games", type=games_list, default=d["cpu_target_games"],
                   help="game counts the CPU targets apply to (default 3000,4000,6000; 'all')")
    p.add_argument("--kb-per-game-max", type=float, default=d["kb_per_idle_game_max"])
    p.add_argument("--http-pairs-min", type=float, default=d["http_pairs_min"])
    p.add_argument("--http-p99-max", type=float, default=d["http_p99_max_ms"])
    p.add_argument("--http-ratio-min", type=float, default=d["http_pairs_ratio_min"],
                   help="pairs/s rpsa/ceiling (INFO unless given)")
    p.add_argument("--cold-p50-max", type=float, default=d["cold_launch_p50_max_ms"])
    p.add_argument("--warm-p99-max", type=float, default=d["warm_launch_p99_max_ms"])
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    limits = {"jitter_p99_max_ms": a.jitter_p99_max, "jitter_ratio_max": a.jitter_ratio_max,
              "cpu_ratio_max": a.cpu_ratio_max, "cpu_vs_original_max": a.cpu_vs_original_max,
              "cpu_target_games": a.cpu_target_games, "kb_per_idle_game_max": a.kb_per_game_max,
              "http_pairs_min": a.http_pairs_min, "http_p99_max_ms": a.http_p99_max,
              "http_pairs_ratio_min": a.http_ratio_min, "cold_launch_p50_max_ms": a.cold_p50_max,
              "warm_launch_p99_max_ms": a.warm_p99_max}
    results = load_results(a.folder)
    if not (any(results[n] for n in SERVERS) or results["launch"]):
        print(f"compare.py: no ceiling.jsonl, original.jsonl, rpsa.jsonl or launch.jsonl in {a.folder}",
              file=sys.stderr)
        return 2
    text, checks = report(results, limits)
    print(text)
    if a.json:
        print(json.dumps(checks))
    return 1 if any(ck["verdict"] == "FAIL" for ck in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
