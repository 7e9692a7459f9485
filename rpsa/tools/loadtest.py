"""Load-test an RPSA server: ``python -m rpsa.tools.loadtest`` (console script ``rpsa-loadtest``).

The tool plays N concurrent two-player games against a server and reports what
it saw.  Its figures are computed exactly as the reference Node generator
(``bench/loadgen.js`` in the shared benchmark folder) computes them, so the two
can be compared run for run.

Per simulated game:

1. create the game over HTTP (host); the host opens its WebSocket and waits for
   its ``player_joined``;
2. join the game over HTTP (guest); the guest opens its WebSocket and waits for
   ``player_joined``;
3. both send ``select_fighter`` (a random fighter) and wait for their own
   echo, then each sends ``start_battle``;
4. on every ``RPSRoundEvent`` of type 1 (WEAPON_COUNTDOWN) each player sends
   ``select_weapon`` with a random index 0..2;
5. ``RPSGameEvent`` type 1 (GAME_COMPLETE) on the host socket counts one
   completed game; both sockets are closed with code 1000 (and aborted if the
   close handshake has not finished after ``--close-wait-ms``).

Route sets:

* native (default): ``POST /api/games`` -> 201 ``{game_id, player_token,
  ws_url, spectate_url}``; ``POST /api/games/{game_id}/players`` -> 201, same
  body; each player connects to the absolute ``ws_url`` it was given.  A
  ``{"type": "welcome"}`` message on connect is ignored.  ``--api-key`` sends
  ``Authorization: Bearer KEY`` on HTTP.
* ``--compat`` (the original server's): ``POST /create_game`` and
  ``POST /join_game`` with ``{gameId, userId, username}`` -> 200
  ``{gameToken}``; WebSocket ``{--ws}/?game_token=T&user_id=U``.

Timeline: ramp (``--ramp`` seconds, or ``--games / --ramp-rate``) -> settle
(``--settle`` s) -> measurement window (``--measure`` s).  Tick jitter, HTTP
latency, CPU and RSS are measured in the window; errors are counted over the
whole run and in the window.  ``--max-seconds`` is a hard bound on the run.

Tick jitter (host socket only): messages less than tick/2 after the start of
the current burst belong to the same tick; for consecutive bursts of one game
``jitter = gap - n * tick`` with n = 2 for the burst after a silent server tick
(``STATE_CHANGE 3 -> 2`` and ``GAME_COMPLETE``) and 1 otherwise; the first burst
is measured from ``GAME_STARTED``; only bursts that start inside the window
count.

The statistics (percentiles, the jitter computation, /proc parsing, report
formatting) are pure functions and classes at the top of this module.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import random
import secrets
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple
from urllib.parse import quote, urlsplit, urlunsplit

from autobahn.twisted.websocket import (
    WebSocketClientFactory,
    WebSocketClientProtocol,
    connectWS,
)
from twisted.internet import defer, error as ierror, task
from twisted.logger import Logger
from twisted.web.client import Agent, HTTPConnectionPool
from treq.client import HTTPClient

log = Logger(namespace="rpsa.tools.loadtest")

FIGHTERS = ("aru", "man", "hog", "rad", "mai")

# Game set-up steps, in order (their names appear in ``timeout_<step>`` errors).
CREATE, HOST_WS, JOIN, JOIN_WS, FIGHTERS_STEP, START, PLAYING, DONE = range(1, 9)
STEP_NAMES = {
    CREATE: "create",
    HOST_WS: "host_ws",
    JOIN: "join",
    JOIN_WS: "join_ws",
    FIGHTERS_STEP: "fighters",
    START: "start",
    PLAYING: "playing",
    DONE: "done",
}

# Safety bound on any single loop that walks a per-run collection.
MAX_GAMES = 100_000


# ====================================================================== statistics (pure)


def js_round(x: float) -> float:
    """``Math.round`` of JavaScript: halves round towards +infinity."""
    return float(math.floor(x + 0.5))


def round1(x: Optional[float]) -> Optional[float]:
    """Round to one decimal as loadgen.js does (``Math.round(x * 10) / 10``); None stays None."""
    if x is None:
        return None
    return js_round(x * 10) / 10


def percentile(sorted_values: Sequence[float], p: float) -> Optional[float]:
    """The nearest-rank p-th percentile of an ascending sequence, as loadgen.js's ``pct``."""
    n = len(sorted_values)
    if not n:
        return None
    i = min(n - 1, max(0, math.ceil(p / 100 * n) - 1))
    return sorted_values[i]


def summary(values: Iterable[float]) -> Dict[str, Any]:
    """``{n, p50, p90, p99, max, min}`` of the values, rounded to 0.1 (loadgen.js's ``summary``)."""
    s = sorted(values)
    return {
        "n": len(s),
        "p50": round1(percentile(s, 50)),
        "p90": round1(percentile(s, 90)),
        "p99": round1(percentile(s, 99)),
        "max": round1(s[-1] if s else None),
        "min": round1(s[0] if s else None),
    }


class Window:
    """The measurement window, in milliseconds since the start of the run."""

    def __init__(self, start_ms: float, end_ms: float):
        self.start = start_ms
        self.end = end_ms

    def __contains__(self, t: float) -> bool:
        return self.start <= t <= self.end

    def __repr__(self) -> str:
        return f"Window({self.start!r}, {self.end!r})"


class Timeline:
    """Ramp, settle, window and hard end of a run, in milliseconds since its start."""

    def __init__(self, games: int, ramp_s: float, settle_s: float, measure_s: float, max_seconds: float):
        self.ramp_end = ramp_s * 1000
        self.window = Window(self.ramp_end + settle_s * 1000, self.ramp_end + settle_s * 1000 + measure_s * 1000)
        self.hard_end = max_seconds * 1000 if max_seconds > 0 else self.window.end + 60000
        self.rate = games / ramp_s if ramp_s > 0 else math.inf

    def due(self, elapsed_ms: float) -> float:
        """How many slots should have been started after ``elapsed_ms`` of ramp (loadgen.js's rule)."""
        if math.isinf(self.rate):
            return math.inf
        return math.floor(elapsed_ms / 1000 * self.rate) + 1


# Kinds of host-socket messages, for the jitter computation.
START_MSG, TICK_MSG, COMPLETE_MSG = "start", "tick", "complete"


def classify_host_message(msg: Any) -> Tuple[Optional[str], int]:
    """Classify a message seen on the host socket: ``(kind, n)``.

    kind is ``"start"`` (GAME_STARTED), ``"complete"`` (GAME_COMPLETE, n = 2:
    a silent tick precedes it), ``"tick"`` (any RPSRoundEvent or sync; n = 2
    for ``STATE_CHANGE 3 -> 2``, which follows a silent tick, else 1) or None
    for a message that is not part of a tick.
    """
    if not isinstance(msg, dict):
        return None, 0
    kind = msg.get("type")
    if kind == "RPSGameEvent":
        ev = msg.get("eventData") or {}
        if not isinstance(ev, dict):
            return None, 0
        if ev.get("type") == 0:
            return START_MSG, 0
        if ev.get("type") == 1:
            return COMPLETE_MSG, 2
        return None, 0
    if kind == "RPSRoundEvent":
        ev = msg.get("eventData") or {}
        if not isinstance(ev, dict):
            ev = {}
        data = ev.get("data")
        two = ev.get("type") == 2 and isinstance(data, dict) and data.get("oldState") == 3 and data.get("newState") == 2
        return TICK_MSG, 2 if two else 1
    if kind == "sync":
        return TICK_MSG, 1
    return None, 0


class BurstJitter:
    """Tick bursts of one game's host socket, scored exactly as loadgen.js's ``tickBurst``/``flushBurst``.

    Times are in milliseconds.  A burst's expected distance from the previous
    one (n ticks) is known only once all its messages are in, so a burst is
    scored when the next one starts, or at GAME_COMPLETE.  Each method returns
    the bursts it scored as ``(burst_start_ms, jitter_ms)`` pairs.
    """

    def __init__(self, tick_ms: float):
        self.tick_ms = tick_ms
        self.burst_t: Optional[float] = None
        self.burst_n = 1
        self.prev_t: Optional[float] = None
        self.ticks = 0

    def start(self, t: float) -> List[Tuple[float, float]]:
        """GAME_STARTED at ``t``: the server's tick timer starts now."""
        self.burst_t = t
        self.prev_t = None
        self.burst_n = 0
        return []

    def message(self, t: float, n: int) -> List[Tuple[float, float]]:
        """A tick message at ``t`` that comes ``n`` ticks after the previous burst if it starts a new one."""
        if self.burst_t is not None and t - self.burst_t < self.tick_ms / 2:
            if n > self.burst_n:
                self.burst_n = n
            return []
        scored = self.flush()
        self.prev_t = self.burst_t
        self.burst_t = t
        self.burst_n = n
        return scored

    def flush(self) -> List[Tuple[float, float]]:
        """Score the current burst against the previous one, if both are known."""
        if self.prev_t is None or self.burst_n == 0:
            return []
        j = (self.burst_t - self.prev_t) - self.burst_n * self.tick_ms
        self.ticks += self.burst_n
        self.prev_t = None
        return [(self.burst_t, j)]

    def complete(self, t: float) -> List[Tuple[float, float]]:
        """GAME_COMPLETE at ``t``: it follows a silent tick; score everything left."""
        return self.message(t, 2) + self.flush()


def jitter_from_timeline(
    timeline: Iterable[Tuple[float, Any]], tick_ms: float, window: Optional[Window] = None
) -> List[float]:
    """Jitter values (ms) of one game's host-socket timeline ``[(t_ms, message), ...]``.

    Messages before GAME_STARTED and after GAME_COMPLETE are ignored, as the
    generator ignores them; with a window, only bursts starting inside it count.
    """
    bj = BurstJitter(tick_ms)
    playing = False
    out: List[float] = []
    for t, msg in timeline:
        kind, n = classify_host_message(msg)
        scored: List[Tuple[float, float]] = []
        if kind == START_MSG:
            playing = True
            scored = bj.start(t)
        elif kind == COMPLETE_MSG and playing:
            scored = bj.complete(t)
            playing = False
        elif kind == TICK_MSG and playing:
            scored = bj.message(t, n)
        out.extend(j for bt, j in scored if window is None or bt in window)
    return out


# ---------------------------------------------------------------------- /proc (pure parsing)


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
    mb = lambda kb: None if kb is None else js_round(kb / 102.4) / 10  # noqa: E731
    return {
        "cpuPct": js_round(1000 * (b["cpu"] - a["cpu"]) / ((b["t"] - a["t"]) / 1000)) / 10 if b["t"] > a["t"] else None,
        "cpuPctMaxSample": round1(max(per_sec)) if per_sec else None,
        "rssMbStart": mb(a.get("rssKb")),
        "rssMbEnd": mb(b.get("rssKb")),
        "rssMbMax": mb(max(rss)) if rss else None,
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


# ---------------------------------------------------------------------- report (pure)

REPORT_KEYS = (
    "tool", "label", "mode", "routes", "games", "ramp", "rampS", "settleS", "measureS", "tickMs", "http", "ws",
    "hardStop", "startedAt", "windowS", "started", "completed", "completedInWindow", "errors", "errorsTotal",
    "errorsInWindow", "closeHandshakeTimeouts", "tickJitterMs", "jitterBurstsAll", "httpLatencyMs",
    "httpOkPerSec", "gameLengthTicks", "gameLengthS", "server", "aux", "steal", "generator",
)


def _fmt(x: Any) -> str:
    return "-" if x is None else str(x)


def _fmt_summary(s: Optional[Dict[str, Any]]) -> str:
    if not s or not s.get("n"):
        return "n 0"
    return "n {n}  p50 {p50}  p90 {p90}  p99 {p99}  max {max}  min {min}".format(**s)


def _fmt_usage(u: Optional[Dict[str, Any]]) -> str:
    if not u:
        return "no samples in the window"
    return "cpu {}% (max 1 s sample {}%), rss {} MB at window start, {} MB at end, {} MB max".format(
        _fmt(u.get("cpuPct")), _fmt(u.get("cpuPctMaxSample")), _fmt(u.get("rssMbStart")),
        _fmt(u.get("rssMbEnd")), _fmt(u.get("rssMbMax")))


def format_report(r: Dict[str, Any]) -> str:
    """The human-readable report of a run, from its JSON report."""
    errors = r.get("errors") or {}
    lines = [
        "rpsa load test{}: mode {}, {} games, {} routes, http {}{}".format(
            f" [{r['label']}]" if r.get("label") else "", r.get("mode"), r.get("games"), r.get("routes"),
            r.get("http"), f", ws {r['ws']}" if r.get("ws") else ""),
        "timeline: ramp {} s, settle {} s, window {} s of {} s{}".format(
            _fmt(r.get("rampS")), _fmt(r.get("settleS")), _fmt(r.get("windowS")), _fmt(r.get("measureS")),
            " (HARD STOP: --max-seconds reached)" if r.get("hardStop") else ""),
        "games: started {}, completed {} ({} in the window)".format(
            r.get("started"), r.get("completed"), r.get("completedInWindow")),
        "errors: {} total, {} in the window{}".format(
            r.get("errorsTotal"), r.get("errorsInWindow"),
            "" if not errors else ": " + ", ".join(f"{k} {v}" for k, v in sorted(errors.items()))),
        "tick jitter ms (tick {} ms): {}".format(_fmt(r.get("tickMs")), _fmt_summary(r.get("tickJitterMs"))),
        "http latency ms: {}; ok/s in window {}".format(
            _fmt_summary(r.get("httpLatencyMs")), _fmt(r.get("httpOkPerSec"))),
        "game length: ticks p50 {}, seconds p50 {}".format(
            _fmt((r.get("gameLengthTicks") or {}).get("p50")), _fmt((r.get("gameLengthS") or {}).get("p50"))),
        "close handshake timeouts: {}".format(r.get("closeHandshakeTimeouts")),
    ]
    if "server" in r:
        lines.append("server: " + _fmt_usage(r.get("server")))
    if "aux" in r:
        lines.append("aux process: " + _fmt_usage(r.get("aux")))
    g = r.get("generator") or {}
    lines.append("generator: cpu {}%, event-loop lag p99 {} ms, max {} ms, rss {} MB".format(
        _fmt(g.get("cpuPct")), _fmt(g.get("loopDelayP99Ms")), _fmt(g.get("loopDelayMaxMs")), _fmt(g.get("rssMb"))))
    steal = r.get("steal")
    if steal:
        lines.append("hypervisor steal: " + ", ".join(
            f"{k} {v['pct']}% (max 1 s {v['maxPct1s']}%)" for k, v in sorted(steal.items())))
    return "\n".join(lines) + "\n"


# ====================================================================== options


class OptionsError(ValueError):
    """A command line that cannot be run."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise OptionsError(message)


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}")
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {s!r}")
    return v


def _nonneg_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}")
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {s!r}")
    return v


def _positive_float(s: str) -> float:
    v = _nonneg_float(s)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {s!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rpsa.tools.loadtest``."""
    p = _Parser(
        prog="python -m rpsa.tools.loadtest",
        description="Play N concurrent RPSA games against a server and report tick jitter, errors, "
        "HTTP latency and CPU/RSS (figures computed as bench/loadgen.js does).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    t = p.add_argument_group("target")
    t.add_argument("--http", default="http://127.0.0.1:8080", help="HTTP base URL of the server")
    t.add_argument("--compat", action="store_true",
                   help="use the original server's routes (/create_game, /join_game, ?game_token=&user_id=)")
    t.add_argument("--ws", default=None,
                   help="--compat only: WebSocket base URL (default: the --http URL with a ws scheme)")
    t.add_argument("--create-path", default="/create_game", help="--compat only: create route")
    t.add_argument("--join-path", default="/join_game", help="--compat only: join route")
    t.add_argument("--ws-path", default="/?game_token={token}&user_id={userId}",
                   help="--compat only: WebSocket path template ({token} {userId} {gameId} {username})")
    t.add_argument("--token-field", default="gameToken", help="--compat only: token field of the reply")
    t.add_argument("--api-key", default=None, help="send 'Authorization: Bearer KEY' on HTTP requests")
    t.add_argument("--api-key-file", default=None, help="read the API key from this file (first line)")
    t.add_argument("--rounds", type=_positive_int, default=None, help="native only: rounds per match to ask for")
    t.add_argument("--send-game-id", action="store_true",
                   help="native only: send a generated game_id on create (default: the server picks one)")

    r = p.add_argument_group("run")
    r.add_argument("--mode", choices=("steady", "once"), default="steady",
                   help="steady: each slot plays games back to back; once: each slot plays one game")
    r.add_argument("--games", type=_positive_int, default=100, help="concurrent games (slots)")
    r.add_argument("--ramp", type=_nonneg_float, default=None,
                   help="seconds over which the slots are started (default: --games / 100, i.e. 100 games/s)")
    r.add_argument("--ramp-rate", type=_positive_float, default=None,
                   help="start slots at this many games per second instead (loadgen.js's --ramp)")
    r.add_argument("--settle", type=_nonneg_float, default=10.0, help="seconds between ramp end and window")
    r.add_argument("--measure", type=_positive_float, default=60.0, help="measurement window, seconds")
    r.add_argument("--max-seconds", type=_nonneg_float, default=0.0,
                   help="hard bound on the whole run (0: window end + 60 s)")
    r.add_argument("--tick-ms", type=_positive_float, default=1000.0, help="the server's nominal tick")
    r.add_argument("--http-conns", type=_positive_int, default=64, help="HTTP requests in flight at most")
    r.add_argument("--http-timeout-ms", type=_positive_float, default=10000.0, help="HTTP request timeout")
    r.add_argument("--step-timeout-ms", type=_positive_float, default=15000.0, help="timeout of each set-up step")
    r.add_argument("--tick-timeout-ms", type=_positive_float, default=5000.0,
                   help="silence on a playing socket longer than this is an error")
    r.add_argument("--game-timeout-ms", type=_positive_float, default=600000.0, help="longest game")
    r.add_argument("--close-wait-ms", type=_nonneg_float, default=1000.0,
                   help="after GAME_COMPLETE, abort sockets whose close handshake has not finished by then")
    r.add_argument("--restart-delay-ms", type=_nonneg_float, default=0.0,
                   help="steady: pause between a slot's games (at least 1000 after an error)")
    r.add_argument("--src-ips", type=_positive_int, default=1,
                   help="spread WebSocket client sockets over 127.0.0.1..127.0.0.N")
    r.add_argument("--fighters", default=",".join(FIGHTERS), help="fighters to pick from, comma-separated")
    r.add_argument("--seed", type=int, default=None, help="seed of the random choices")

    o = p.add_argument_group("output")
    o.add_argument("--server-pid", type=int, default=0, help="sample CPU and VmRSS of this process")
    o.add_argument("--aux-pid", type=int, default=0, help="sample a second process too (e.g. redis)")
    o.add_argument("--json", default="", help="append the JSON report line to this file ('-': stdout)")
    o.add_argument("--label", default="", help="label stored in the JSON report")
    o.add_argument("--progress", type=_nonneg_float, default=10.0,
                   help="seconds between progress lines on stderr (0: off)")
    o.add_argument("--quiet", action="store_true", help="do not print the human-readable report")
    o.add_argument("--verbose", action="store_true", help="log at info level (default: warnings) to stderr")
    return p


def _ws_from_http(http: str) -> str:
    parts = urlsplit(http)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, "", "", ""))


def parse_options(argv: Sequence[str]) -> argparse.Namespace:
    """Parse and check a command line; raise OptionsError for one that cannot be run."""
    p = build_parser()
    args = p.parse_args(list(argv))
    given = set()
    for a in argv:
        if a.startswith("--"):
            given.add(a[2:].split("=", 1)[0])
    http = urlsplit(args.http)
    if http.scheme not in ("http", "https") or not http.hostname:
        raise OptionsError(f"--http must be an http:// or https:// URL: {args.http!r}")
    args.http = args.http.rstrip("/")
    compat_only = {"ws", "create-path", "join-path", "ws-path", "token-field"} & given
    native_only = {"rounds", "send-game-id"} & given
    if args.compat and native_only:
        raise OptionsError("--{} only applies to the native routes (not with --compat)".format(sorted(native_only)[0]))
    if not args.compat and compat_only:
        raise OptionsError("--{} only applies with --compat".format(sorted(compat_only)[0]))
    if args.compat:
        args.ws = (args.ws or _ws_from_http(args.http)).rstrip("/")
        ws = urlsplit(args.ws)
        if ws.scheme not in ("ws", "wss") or not ws.hostname:
            raise OptionsError(f"--ws must be a ws:// or wss:// URL: {args.ws!r}")
    if args.api_key is not None and args.api_key_file is not None:
        raise OptionsError("give --api-key or --api-key-file, not both")
    if args.api_key_file is not None:
        try:
            with open(args.api_key_file, encoding="utf-8") as f:
                args.api_key = f.readline().strip()
        except OSError as e:
            raise OptionsError(f"cannot read --api-key-file: {e}")
        if not args.api_key:
            raise OptionsError("--api-key-file is empty")
    if args.api_key is not None and (not args.api_key or any(c in args.api_key for c in "\r\n")):
        raise OptionsError("--api-key must be a non-empty single line")
    if args.ramp is not None and args.ramp_rate is not None:
        raise OptionsError("give --ramp (seconds) or --ramp-rate (games per second), not both")
    if args.ramp_rate is not None:
        args.ramp = args.games / args.ramp_rate
    elif args.ramp is None:
        args.ramp = args.games / 100
    args.fighters = [f.strip() for f in args.fighters.split(",") if f.strip()]
    if not args.fighters:
        raise OptionsError("--fighters lists no fighter")
    if args.games > MAX_GAMES:
        raise OptionsError(f"--games is at most {MAX_GAMES}")
    if args.src_ips > 254:
        raise OptionsError("--src-ips is at most 254")
    if args.json and args.json != "-" and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        raise OptionsError(f"--json: no such directory for {args.json!r}")
    if args.server_pid < 0 or args.aux_pid < 0:
        raise OptionsError("a pid must be positive")
    return args


# ====================================================================== runtime


def _template(s: str, values: Dict[str, str]) -> str:
    """Fill ``{name}`` placeholders with URL-encoded values; unknown names stay as they are."""
    out, i = [], 0
    while i < len(s):
        j = s.find("{", i)
        if j < 0:
            out.append(s[i:])
            break
        k = s.find("}", j)
        if k < 0:
            out.append(s[i:])
            break
        key = s[j + 1:k]
        out.append(s[i:j])
        out.append(quote(values[key], safe="") if key in values else s[j:k + 1])
        i = k + 1
    return "".join(out)


class Stats:
    """Counters and samples of one run."""

    def __init__(self, window: Window):
        self.window = window
        self.started = 0
        self.completed = 0
        self.completed_in_window = 0
        self.errors: Dict[str, int] = {}
        self.errors_in_window = 0
        self.close_timeouts = 0
        self.jitter: List[float] = []
        self.jitter_all = 0
        self.http_lat: List[float] = []
        self.http_ok = 0
        self.http_ok_in_window = 0
        self.game_ticks: List[int] = []
        self.game_secs: List[float] = []

    def error(self, kind: str, t: float) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if t in self.window:
            self.errors_in_window += 1

    def bursts(self, scored: List[Tuple[float, float]]) -> None:
        for bt, j in scored:
            self.jitter_all += 1
            if bt in self.window:
                self.jitter.append(j)

    def errors_total(self) -> int:
        return sum(self.errors.values())


class ProcSampler:
    """Samples CPU time and VmRSS of some processes (and the host's steal time) from /proc."""

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
        try:
            cpu = parse_proc_stat(self._read(f"{pid}/stat"), self.clk_tck)
            rss = parse_vmrss_kb(self._read(f"{pid}/status"))
        except (OSError, ValueError, IndexError):
            return None
        return {"cpu": cpu, "rssKb": rss}

    def steal(self) -> Optional[Dict[str, int]]:
        try:
            return parse_steal(self._read("stat"))
        except (OSError, ValueError):
            return None


class PlayerProtocol(WebSocketClientProtocol):
    """One player's WebSocket: forwards events to its Game."""

    def __init__(self):
        super().__init__()
        self._upgrade_status: Optional[int] = None
        self._lost_reason = None
        self.opened = False
        self.gone = False

    def connectionMade(self):
        self.factory.loadtest._sockets.add(self)
        super().connectionMade()

    def dataReceived(self, data):
        # autobahn's own dataReceived formats a debug log line (eagerly) for every read;
        # this is its body without that line, the generator's hottest path.
        self._dataReceived(data)

    def failHandshake(self, reason):
        line = getattr(self, "http_status_line", None) or ""
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit() and parts[1] != "101":
            self._upgrade_status = int(parts[1])
        return super().failHandshake(reason)

    def onOpen(self):
        self.opened = True
        self.factory.game.on_open(self.factory.role)

    def onMessage(self, payload, isBinary):
        self.factory.game.on_message(self.factory.role, payload)

    def onClose(self, wasClean, code, reason):
        if self._upgrade_status is not None:
            kind = f"ws_upgrade_status_{self._upgrade_status}"
        elif not wasClean and isinstance(getattr(self._lost_reason, "value", None), ierror.ConnectionAborted):
            kind = "ws_error_aborted"
        elif not wasClean and isinstance(getattr(self._lost_reason, "value", None), ierror.ConnectionDone):
            kind = "ws_unexpected_close_1006" if self.opened else "ws_error_ECONNRESET"
        elif not wasClean and isinstance(getattr(self._lost_reason, "value", None), ierror.ConnectionLost):
            kind = "ws_error_ECONNRESET"
        elif not wasClean:
            kind = "ws_unexpected_close_1006" if self.opened else "ws_error_handshake"
        else:
            kind = f"ws_unexpected_close_{1005 if code is None else code}"
        self.factory.game.on_close(self.factory.role, kind)

    def connectionLost(self, reason):
        self._lost_reason = reason
        try:
            super().connectionLost(reason)
        finally:
            self.gone = True
            self.factory.loadtest._socket_gone(self)

    def send_json(self, obj: Dict[str, Any]) -> None:
        if self.state == WebSocketClientProtocol.STATE_OPEN:
            self.sendMessage(json.dumps(obj, separators=(",", ":")).encode("utf-8"))

    def close_normally(self) -> None:
        if self.state == WebSocketClientProtocol.STATE_OPEN:
            self.sendClose(1000, "game complete")

    def abort(self) -> None:
        if not self.gone and self.transport is not None:
            self.transport.abortConnection()


class PlayerFactory(WebSocketClientFactory):
    """Builds the one PlayerProtocol of one player of one game."""

    protocol = PlayerProtocol

    def __init__(self, loadtest: "LoadTest", game: "Game", role: int, url: str):
        super().__init__(url, reactor=loadtest._reactor)
        self.loadtest = loadtest
        self.game = game
        self.role = role
        # No autobahn timers: the watchdog bounds the opening handshake (--step-timeout-ms) and
        # Game._close_timeout the closing one (--close-wait-ms).  (autobahn's batched timers leave
        # delayed calls behind even when cancelled.)
        self.setProtocolOptions(openHandshakeTimeout=0, closeHandshakeTimeout=0, perMessageCompressionOffers=[])

    def buildProtocol(self, addr):
        proto = super().buildProtocol(addr)
        self.game.sockets[self.role] = proto
        return proto

    def clientConnectionFailed(self, connector, reason):
        if isinstance(reason.value, ierror.ConnectionRefusedError):
            kind = "ws_error_ECONNREFUSED"
        elif isinstance(reason.value, ierror.TimeoutError):
            kind = "ws_error_ETIMEDOUT"
        elif isinstance(reason.value, ierror.UserError):
            return  # we stopped connecting ourselves
        else:
            kind = "ws_error_other"
        self.game.on_close(self.role, kind)


class HttpClient:
    """POSTs JSON over a persistent connection pool, at most ``conns`` requests in flight."""

    def __init__(self, reactor, cfg, stats: Stats, now: Callable[[], float]):
        self._reactor = reactor
        self._cfg = cfg
        self._stats = stats
        self._now = now
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        self._pool.maxPersistentPerHost = cfg.http_conns
        self._pool.retryAutomatically = False
        self._client = HTTPClient(
            Agent(reactor, pool=self._pool, connectTimeout=cfg.http_timeout_ms / 1000))
        self._sem = defer.DeferredSemaphore(cfg.http_conns)
        self._inflight: set = set()
        self._closing = False
        self._headers = {b"Content-Type": [b"application/json"]}
        if cfg.api_key:
            self._headers[b"Authorization"] = [b"Bearer " + cfg.api_key.encode("utf-8")]

    def post(self, url: str, body: Dict[str, Any], expect: int,
             extract: Callable[[Any], Any]) -> defer.Deferred:
        """POST ``body``; fire with ``extract(reply)``, or None after counting an error.

        ``extract`` returns the useful part of a reply or an error kind string
        prefixed with ``"!"``.
        """
        t0 = self._now()
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        timed_out = []

        def send():
            d = self._client.post(url, data=data, headers=self._headers, allow_redirects=False,
                                  reactor=self._reactor)
            d.addCallback(lambda resp: resp.content().addCallback(lambda content: (resp.code, content)))
            timer = self._reactor.callLater(self._cfg.http_timeout_ms / 1000, lambda: (timed_out.append(1), d.cancel()))

            def untime(result):
                if timer.active():
                    timer.cancel()
                return result

            return d.addBoth(untime)

        outer = self._sem.run(send)
        self._inflight.add(outer)

        def ok(result):
            code, content = result
            t1 = self._now()
            if t1 in self._stats.window:
                self._stats.http_lat.append(t1 - t0)
            if code != expect:
                self._stats.error(f"http_status_{code}", t1)
                return None
            try:
                reply = json.loads(content)
            except ValueError:
                self._stats.error("http_bad_json", t1)
                return None
            value = extract(reply)
            if isinstance(value, str) and value.startswith("!"):
                self._stats.error(value[1:], t1)
                return None
            self._stats.http_ok += 1
            if t1 in self._stats.window:
                self._stats.http_ok_in_window += 1
            return value

        def bad(failure):
            if not self._closing:
                self._stats.error("http_timeout" if timed_out else "http_net_error", self._now())
            return None

        def done(result):
            self._inflight.discard(outer)
            return result

        outer.addCallbacks(ok, bad).addBoth(done)
        return outer

    def close(self) -> defer.Deferred:
        """Cancel the requests in flight and close the pooled connections."""
        self._closing = True
        for d in list(self._inflight):
            d.cancel()
        return self._pool.closeCachedConnections()


class Game:
    """One simulated game: two players, driven through the protocol (loadgen.js's Game)."""

    def __init__(self, lt: "LoadTest", slot: int, seq: int):
        self.lt = lt
        self.slot = slot
        self.id = f"lg-{lt.run_id}-{slot}-{seq}"
        self.server_game_id: Optional[str] = None
        self.users = (self.id + "-p1", self.id + "-p2")
        self.sockets: List[Optional[PlayerProtocol]] = [None, None]
        self.connectors: List[Any] = [None, None]
        self.acked = [False, False]
        self.state = CREATE
        self.deadline = lt.now() + lt.cfg.step_timeout_ms
        self.last_msg = 0.0
        self.finished = False
        self.dead = False
        self.jitter = BurstJitter(lt.cfg.tick_ms)
        self.started_at = 0.0
        self.on_done: Optional[Callable[[bool], None]] = None

    def step(self, state: int) -> None:
        self.state = state
        self.deadline = self.lt.now() + self.lt.cfg.step_timeout_ms

    # -- set-up

    def run(self) -> None:
        cfg = self.lt.cfg
        if cfg.compat:
            d = self.lt.http.post(cfg.http + cfg.create_path,
                                  {"gameId": self.id, "userId": self.users[0], "username": f"host{self.slot}"},
                                  200, self._compat_token)
        else:
            body = {"user_id": self.users[0], "username": f"host{self.slot}"}
            if cfg.send_game_id:
                body["game_id"] = self.id
            if cfg.rounds is not None:
                body["rounds"] = cfg.rounds
            d = self.lt.http.post(cfg.http + "/api/games", body, 201, self._native_seat)
        d.addCallback(self._created)

    def _compat_token(self, reply: Any) -> Any:
        tok = reply.get(self.lt.cfg.token_field) if isinstance(reply, dict) else None
        if not isinstance(tok, str) or not tok:
            return "!http_no_token"
        return tok

    def _native_seat(self, reply: Any) -> Any:
        if not isinstance(reply, dict):
            return "!http_bad_json"
        url, gid = reply.get("ws_url"), reply.get("game_id")
        if not isinstance(url, str) or not url:
            return "!http_no_ws_url"
        if not isinstance(gid, str) or not gid:
            return "!http_no_game_id"
        return (gid, url)

    def _ws_url(self, role: int, seat: Any) -> str:
        cfg = self.lt.cfg
        if not cfg.compat:
            return seat[1]
        return cfg.ws + _template(cfg.ws_path, {
            "token": seat, "userId": self.users[role], "gameId": self.id,
            "username": "guest" if role else "host"})

    def _created(self, seat: Any) -> None:
        if self.dead:
            return
        if seat is None:
            return self.fail(None)
        if not self.lt.cfg.compat:
            self.server_game_id = seat[0]
        self.step(HOST_WS)
        self.connect(0, self._ws_url(0, seat))

    def join(self) -> None:
        cfg = self.lt.cfg
        self.step(JOIN)
        if cfg.compat:
            d = self.lt.http.post(cfg.http + cfg.join_path,
                                  {"gameId": self.id, "userId": self.users[1], "username": f"guest{self.slot}"},
                                  200, self._compat_token)
        else:
            url = cfg.http + "/api/games/" + quote(self.server_game_id or "", safe="") + "/players"
            d = self.lt.http.post(url, {"user_id": self.users[1], "username": f"guest{self.slot}"},
                                  201, self._native_seat)
        d.addCallback(self._joined)

    def _joined(self, seat: Any) -> None:
        if self.dead:
            return
        if seat is None:
            return self.fail(None)
        self.step(JOIN_WS)
        self.connect(1, self._ws_url(1, seat))

    def connect(self, role: int, url: str) -> None:
        cfg = self.lt.cfg
        try:
            factory = PlayerFactory(self.lt, self, role, url)
        except Exception:
            return self.fail("ws_bad_url")
        bind = None
        if cfg.src_ips > 1:
            bind = (f"127.0.0.{1 + ((self.slot + role) % cfg.src_ips)}", 0)
        self.connectors[role] = connectWS(factory, timeout=max(1, cfg.step_timeout_ms / 1000), bindAddress=bind)

    # -- events from the sockets

    def on_open(self, role: int) -> None:
        pass  # the server announces every connection with player_joined

    def send(self, role: int, obj: Dict[str, Any]) -> None:
        s = self.sockets[role]
        if s is not None:
            s.send_json(obj)

    def on_message(self, role: int, payload: bytes) -> None:
        if self.dead:
            return
        lt = self.lt
        t = lt.now()
        try:
            m = json.loads(payload)
        except ValueError:
            return self.fail("ws_bad_json")
        self.last_msg = t
        if not isinstance(m, dict):
            return
        kind = m.get("type")
        if kind == "player_joined":
            if role == 0 and self.state == HOST_WS:
                self.join()
            elif role == 1 and self.state == JOIN_WS:
                self.step(FIGHTERS_STEP)
                for r in (0, 1):
                    self.send(r, {"type": "select_fighter", "characterId": lt.rng.choice(lt.cfg.fighters)})
            return
        if kind == "select_fighter":
            gd = m.get("gameData")
            if (self.state == FIGHTERS_STEP and isinstance(gd, dict) and gd.get("playerId") == self.users[role]
                    and not self.acked[role]):
                self.acked[role] = True
                self.send(role, {"type": "start_battle"})
                if self.acked[0] and self.acked[1]:
                    self.step(START)
            return
        if kind == "error":
            return self.fail("server_error_msg")
        if kind == "RPSRoundEvent":
            ev = m.get("eventData")
            if isinstance(ev, dict) and ev.get("type") == 1:
                self.send(role, {"type": "select_weapon", "index": lt.rng.randrange(3)})
        if role != 0:
            return
        what, n = classify_host_message(m)
        if what == START_MSG:
            self.step(PLAYING)
            self.deadline = t + lt.cfg.game_timeout_ms
            self.started_at = t
            lt.stats.bursts(self.jitter.start(t))
        elif what == COMPLETE_MSG and self.state == PLAYING:
            lt.stats.bursts(self.jitter.complete(t))
            self.complete(t)
        elif what == TICK_MSG and self.state == PLAYING:
            lt.stats.bursts(self.jitter.message(t, n))

    def on_close(self, role: int, kind: str) -> None:
        if self.finished or self.dead:
            return
        self.fail(kind)

    # -- endings

    def complete(self, t: float) -> None:
        lt = self.lt
        self.finished = True
        self.state = DONE
        lt.stats.completed += 1
        if t in lt.stats.window:
            lt.stats.completed_in_window += 1
        lt.stats.game_ticks.append(self.jitter.ticks)
        lt.stats.game_secs.append((t - self.started_at) / 1000)
        for s in self.sockets:
            if s is not None:
                s.close_normally()
        sockets = [s for s in self.sockets if s is not None]
        lt.call_later(lt.cfg.close_wait_ms / 1000, self._close_timeout, sockets)
        self.end(False)

    def _close_timeout(self, sockets: List[PlayerProtocol]) -> None:
        for s in sockets:
            if not s.gone:
                self.lt.stats.close_timeouts += 1
                s.abort()

    def _abort_all(self) -> None:
        for role in (0, 1):
            s = self.sockets[role]
            if s is not None:
                s.abort()
            elif self.connectors[role] is not None:
                try:
                    self.connectors[role].disconnect()
                except Exception:
                    pass

    def fail(self, kind: Optional[str]) -> None:
        if self.dead or self.finished:
            return
        if kind:
            self.lt.stats.error(kind, self.lt.now())
        self.finished = True
        self._abort_all()
        self.end(True)

    def end(self, failed: bool) -> None:
        if self.dead:
            return
        self.dead = True
        self.lt.active.discard(self)
        if self.on_done is not None:
            self.on_done(failed)

    def stop(self) -> None:
        """The run is ending: tear down without counting an error."""
        self.finished = True
        self._abort_all()
        self.end(False)


class LoopLag:
    """Event-loop lateness: a LoopingCall every 10 ms records how late each call came."""

    INTERVAL = 0.010

    def __init__(self, reactor):
        self._reactor = reactor
        self._prev: Optional[float] = None
        self.recording = False
        self.samples: List[float] = []
        self._call = task.LoopingCall(self._tick)
        self._call.clock = reactor

    def start(self) -> None:
        self._call.start(self.INTERVAL, now=False)

    def stop(self) -> None:
        if self._call.running:
            self._call.stop()

    def _tick(self) -> None:
        t = self._reactor.seconds()
        if self._prev is not None and self.recording:
            self.samples.append((t - self._prev - self.INTERVAL) * 1000)
        self._prev = t


class LoadTest:
    """One load-test run against one server; ``run()`` fires with the JSON report (a dict)."""

    def __init__(self, reactor, cfg: argparse.Namespace, proc: Optional[ProcSampler] = None,
                 err: Optional[Any] = None):
        self._reactor = reactor
        self.cfg = cfg
        self.proc = proc or ProcSampler()
        self._err = err if err is not None else sys.stderr
        self.timeline = Timeline(cfg.games, cfg.ramp, cfg.settle, cfg.measure, cfg.max_seconds)
        self.stats = Stats(self.timeline.window)
        self.rng = random.Random(cfg.seed)
        self.run_id = secrets.token_hex(3)
        self.active: set = set()
        self._sockets: set = set()
        self._gone_waiters: List[defer.Deferred] = []
        self._calls: set = set()
        self._loops: List[task.LoopingCall] = []
        self._seq = 0
        self._made = 0
        self._ramp_t0 = 0.0
        self._stopping = False
        self._finished = False
        self._t0 = 0.0
        self._self_cpu_win: Optional[float] = None
        self.samples: Dict[str, List[Dict[str, Any]]] = {"server": [], "aux": [], "self": [], "steal": []}
        self._lost_server = False
        self.lag = LoopLag(reactor)
        self.http: Optional[HttpClient] = None
        self._done: Optional[defer.Deferred] = None

    # -- time and timers

    def now(self) -> float:
        """Milliseconds since the start of the run."""
        return (self._reactor.seconds() - self._t0) * 1000

    def call_later(self, delay_s: float, f: Callable, *args) -> None:
        """A delayed call that the end of the run cancels."""
        holder: List[Any] = []

        def fire():
            self._calls.discard(holder[0])
            f(*args)

        dc = self._reactor.callLater(max(0.0, delay_s), fire)
        holder.append(dc)
        self._calls.add(dc)

    def _loop(self, interval: float, f: Callable, now: bool) -> None:
        lc = task.LoopingCall(f)
        lc.clock = self._reactor
        self._loops.append(lc)
        lc.start(interval, now=now).addErrback(self._crashed)

    def _crashed(self, failure) -> None:
        log.failure("load test loop crashed", failure)
        self._finish(True)

    # -- run

    def run(self) -> defer.Deferred:
        """Start the run; the Deferred fires with the report once it is over and torn down."""
        self._t0 = self._reactor.seconds()
        self.started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        self._done = defer.Deferred()
        self.http = HttpClient(self._reactor, self.cfg, self.stats, self.now)
        tl = self.timeline
        self._loop(1.0, self._sample_all, True)
        self._loop(0.5, self._watchdog, False)
        if self.cfg.progress > 0:
            self._loop(self.cfg.progress, self._progress, False)
        self.lag.start()
        self.call_later(tl.hard_end / 1000, self._hard_stop)
        self.call_later(max(0.0, tl.window.start) / 1000, self._open_window)
        self._ramp_t0 = self.now()
        self._loop(0.02, self._ramp_step, True)
        self._loop(0.2, self._check_end, False)
        return self._done

    def _hard_stop(self) -> None:
        log.warn("hard time bound reached (--max-seconds)")
        self._finish(True)

    def _open_window(self) -> None:
        self.lag.recording = True
        self.lag.samples = []
        self._self_cpu_win = self._cpu_self()

    @staticmethod
    def _cpu_self() -> float:
        t = os.times()
        return t.user + t.system

    def _ramp_step(self) -> None:
        if self._stopping or self._made >= self.cfg.games:
            return
        due = self.timeline.due(self.now() - self._ramp_t0)
        while self._made < self.cfg.games and self._made < due and not self._stopping:
            slot = self._made
            self._made += 1
            self._run_slot(slot)

    def _run_slot(self, slot: int) -> None:
        if self._stopping:
            return
        g = Game(self, slot, self._seq)
        self._seq += 1
        self.active.add(g)
        self.stats.started += 1
        if self.cfg.mode == "steady":
            def again(failed: bool) -> None:
                if self._stopping:
                    return
                d = max(1000.0, self.cfg.restart_delay_ms) if failed else self.cfg.restart_delay_ms
                self.call_later(d / 1000, self._run_slot, slot)
            g.on_done = again
        g.run()

    def _check_end(self) -> None:
        if self._stopping or self._made < self.cfg.games:
            return
        t = self.now()
        if self.cfg.mode == "once":
            if not self.active or t >= self.timeline.hard_end:
                self._finish(False)
        elif t >= self.timeline.window.end:
            self._finish(False)

    def _watchdog(self) -> None:
        t = self.now()
        for g in list(self.active)[:MAX_GAMES]:
            if g.dead:
                continue
            if t > g.deadline:
                g.fail("timeout_" + STEP_NAMES[g.state])
            elif g.state == PLAYING and t - g.last_msg > self.cfg.tick_timeout_ms:
                g.fail("timeout_tick")

    def _sample_all(self) -> None:
        t = self.now()
        st = self.proc.steal()
        if st:
            self.samples["steal"].append({"t": t, "v": st})
        pids = {"server": self.cfg.server_pid, "aux": self.cfg.aux_pid, "self": os.getpid()}
        for k, pid in pids.items():
            if not pid:
                continue
            r = self.proc.read(pid)
            if r is not None:
                r["t"] = t
                self.samples[k].append(r)
            elif k == "server" and not self._lost_server:
                self._lost_server = True
                self.stats.error("server_process_gone", t)

    def _progress(self) -> None:
        back = max(1, int(round(self.cfg.progress)))

        def cpu(series):
            if len(series) < 2:
                return "-"
            a, b = series[max(0, len(series) - 1 - back)], series[-1]
            if b["t"] <= a["t"]:
                return "-"
            return "%.0f%%" % (100 * (b["cpu"] - a["cpu"]) / ((b["t"] - a["t"]) / 1000))

        srv = self.samples["server"]
        rss = "%.0fMB" % (srv[-1]["rssKb"] / 1024) if srv and srv[-1].get("rssKb") else "-"
        errors = json.dumps(self.stats.errors, separators=(",", ":"), sort_keys=True)
        self._err.write(
            f"[{self.now() / 1000:.0f}s] active={len(self.active)} completed={self.stats.completed} "
            f"errors={errors} server_cpu={cpu(srv)} server_rss={rss} gen_cpu={cpu(self.samples['self'])}\n")
        self._err.flush()

    # -- end of the run

    def _socket_gone(self, proto: PlayerProtocol) -> None:
        self._sockets.discard(proto)
        if not self._sockets:
            waiters, self._gone_waiters = self._gone_waiters, []
            for d in waiters:
                d.callback(None)

    def _finish(self, hard_stop: bool) -> None:
        if self._finished:
            return
        self._finished = True
        self._stopping = True
        if not hard_stop:
            self._sample_all()
        report = self.report(hard_stop, self.now())
        for lc in self._loops:
            if lc.running:
                lc.stop()
        self.lag.stop()
        for dc in list(self._calls):
            if dc.active():
                dc.cancel()
        self._calls.clear()
        for g in list(self.active)[:MAX_GAMES]:
            g.stop()
        for s in list(self._sockets):
            s.abort()
        d = self._teardown()
        d.addBoth(lambda _: self._done.callback(report))

    def _teardown(self) -> defer.Deferred:
        """Close the HTTP pool and wait (at most 3 s) for every socket to be gone."""
        waits = [self.http.close()]
        if self._sockets:
            w = defer.Deferred()
            self._gone_waiters.append(w)
            waits.append(w)
        d = defer.DeferredList(waits, consumeErrors=True)
        d.addTimeout(3, self._reactor)
        d.addErrback(lambda f: log.warn("some connections were still open at exit"))
        # One more reactor turn lets the last connectionLost callbacks run.
        d.addCallback(lambda _: task.deferLater(self._reactor, 0, lambda: None))
        return d

    def report(self, hard_stop: bool, t_end: float) -> Dict[str, Any]:
        """The JSON report (loadgen.js's result line, plus a few keys of this tool)."""
        cfg, st, w = self.cfg, self.stats, self.timeline.window
        win_end = min(t_end, w.end)
        win_len = max(0.0, (win_end - w.start) / 1000)
        self_cpu = None
        if self._self_cpu_win is not None and win_len > 0:
            self_cpu = js_round(1000 * (self._cpu_self() - self._self_cpu_win) / win_len) / 10
        lag = sorted(self.lag.samples)
        me = self.proc.read(os.getpid())
        res: Dict[str, Any] = {
            "tool": "rpsa.tools.loadtest",
            "label": cfg.label,
            "mode": cfg.mode,
            "routes": "compat" if cfg.compat else "native",
            "games": cfg.games,
            "ramp": round1(self.timeline.rate) if not math.isinf(self.timeline.rate) else None,
            "rampS": round1(cfg.ramp),
            "settleS": cfg.settle,
            "measureS": cfg.measure,
            "tickMs": cfg.tick_ms,
            "http": cfg.http,
            "ws": cfg.ws if cfg.compat else None,
            "hardStop": hard_stop,
            "startedAt": self.started_at,
            "windowS": round1(win_len),
            "started": st.started,
            "completed": st.completed,
            "completedInWindow": st.completed_in_window,
            "errors": dict(sorted(st.errors.items())),
            "errorsTotal": st.errors_total(),
            "errorsInWindow": st.errors_in_window,
            "closeHandshakeTimeouts": st.close_timeouts,
            "tickJitterMs": summary(st.jitter),
            "jitterBurstsAll": st.jitter_all,
            "httpLatencyMs": summary(st.http_lat),
            "httpOkPerSec": js_round(st.http_ok_in_window / win_len) if win_len > 0 else None,
            "gameLengthTicks": summary(st.game_ticks),
            "gameLengthS": summary(st.game_secs),
            "generator": {
                "cpuPct": self_cpu,
                "loopDelayP99Ms": round1(percentile(lag, 99)),
                "loopDelayMaxMs": round1(lag[-1] if lag else None),
                "rssMb": js_round(me["rssKb"] * 1024 / 1e5) / 10 if me and me.get("rssKb") else None,
            },
        }
        if cfg.server_pid:
            res["server"] = window_usage(self.samples["server"], w.start, win_end)
        if cfg.aux_pid:
            res["aux"] = window_usage(self.samples["aux"], w.start, win_end)
        res["steal"] = steal_usage(self.samples["steal"], w.start, win_end, self.proc.clk_tck)
        return res


# ====================================================================== command line


def write_json_line(path: str, report: Dict[str, Any], stdout=None) -> None:
    """Append the report as one JSON line to ``path`` ('-' is stdout)."""
    line = json.dumps(report, separators=(",", ":")) + "\n"
    if path == "-":
        (stdout or sys.stdout).write(line)
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)


def _start_logging(verbose: bool) -> None:
    from twisted.logger import (
        FilteringLogObserver, LogLevel, LogLevelFilterPredicate, globalLogBeginner, textFileLogObserver)

    level = LogLevel.info if verbose else LogLevel.warn
    observer = FilteringLogObserver(textFileLogObserver(sys.stderr),
                                    [LogLevelFilterPredicate(defaultLogLevel=level)])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def _run(reactor, cfg) -> defer.Deferred:
    lt = LoadTest(reactor, cfg)

    def report(r):
        if not cfg.quiet:
            sys.stdout.write(format_report(r))
            sys.stdout.flush()
        if cfg.json:
            write_json_line(cfg.json, r)

    return lt.run().addCallback(report)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point of ``python -m rpsa.tools.loadtest`` and the ``rpsa-loadtest`` console script."""
    if argv is None:
        argv = sys.argv[1:]
    try:
        cfg = parse_options(argv)
    except OptionsError as e:
        build_parser().print_usage(sys.stderr)
        sys.stderr.write(f"rpsa.tools.loadtest: error: {e}\n")
        raise SystemExit(2)
    _start_logging(cfg.verbose)
    task.react(_run, (cfg,))


if __name__ == "__main__":
    main()
