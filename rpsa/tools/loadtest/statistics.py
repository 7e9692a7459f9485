"""The load tester's figures: percentiles and summaries, the run's timeline, tick jitter, the run's counters.

Everything here is pure (no I/O, no reactor) and computed exactly as the
reference Node generator (``bench/loadgen.js``) computes it, so the two tools'
figures can be compared run for run.

Tick jitter (host socket only): messages less than tick/2 after the start of
the current burst belong to the same tick; for consecutive bursts of one game
``jitter = gap - n * tick`` with n = 2 for the burst after a silent server tick
(``STATE_CHANGE 3 -> 2`` and ``GAME_COMPLETE``) and 1 otherwise; the first burst
is measured from ``GAME_STARTED``; only bursts that start inside the window
count.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from rpsa.tools.loadtest import messages


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
    """The measurement window, in milliseconds since the start of the run.

    ``start_ms`` and ``end_ms`` are its bounds, both inside it.
    """

    def __init__(self, start_ms: float, end_ms: float):
        self.start = start_ms
        self.end = end_ms

    def __contains__(self, t: float) -> bool:
        return self.start <= t <= self.end

    def __repr__(self) -> str:
        return f"Window({self.start!r}, {self.end!r})"


class Timeline:
    """Ramp, settle, window and hard end of a run, in milliseconds since its start.

    ``games`` slots are started over ``ramp_s`` seconds; the window opens
    ``settle_s`` seconds after the ramp and lasts ``measure_s``; the run stops
    at ``max_seconds`` at the latest (0: 60 s after the window).
    """

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
    if kind == messages.GAME_EVENT:
        ev = messages.event_type(msg)
        if ev == messages.GAME_STARTED:
            return START_MSG, 0
        if ev == messages.GAME_COMPLETE:
            return COMPLETE_MSG, 2
        return None, 0
    if kind == messages.ROUND_EVENT:
        ev = msg.get("eventData")
        if not isinstance(ev, dict):
            ev = {}
        data = ev.get("data")
        two = (ev.get("type") == messages.STATE_CHANGE and isinstance(data, dict)
               and (data.get("oldState"), data.get("newState")) == messages.AFTER_SILENT_TICK)
        return TICK_MSG, 2 if two else 1
    if kind == messages.SYNC:
        return TICK_MSG, 1
    return None, 0


class BurstJitter:
    """Tick bursts of one game's host socket, scored exactly as loadgen.js's ``tickBurst``/``flushBurst``.

    Times are in milliseconds.  A burst's expected distance from the previous
    one (n ticks) is known only once all its messages are in, so a burst is
    scored when the next one starts, or at GAME_COMPLETE.  Each method returns
    the bursts it scored as ``(burst_start_ms, jitter_ms)`` pairs.
    ``tick_ms`` is the server's nominal tick.
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


class Stats:
    """Counters and samples of one run; ``window`` is its measurement Window."""

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
        """Count one error of this kind at ``t`` (ms)."""
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if t in self.window:
            self.errors_in_window += 1

    def bursts(self, scored: List[Tuple[float, float]]) -> None:
        """Record the ``(burst_start_ms, jitter_ms)`` pairs a BurstJitter scored."""
        for bt, j in scored:
            self.jitter_all += 1
            if bt in self.window:
                self.jitter.append(j)

    def errors_total(self) -> int:
        """Errors of every kind, over the whole run."""
        return sum(self.errors.values())
