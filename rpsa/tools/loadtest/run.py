"""One load-test run (LoadTest): the ramp, the watchdog, the samplers, the teardown and the JSON report.

Timeline: ramp (``--ramp`` seconds, or ``--games / --ramp-rate``) -> settle
(``--settle`` s) -> measurement window (``--measure`` s).  Tick jitter, HTTP
latency, CPU and RSS are measured in the window; errors are counted over the
whole run and in the window.  ``--max-seconds`` is a hard bound on the run.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import random
import secrets
import sys
from typing import Any, Callable, Dict, List, Optional

from twisted.internet import defer, task
from twisted.logger import Logger

from rpsa.tools.loadtest.client import HttpClient, PlayerProtocol, SocketOwner
from rpsa.tools.loadtest.game import PLAYING, STEP_NAMES, Game, GameOwner
from rpsa.tools.loadtest.statistics import Stats, Timeline, js_round, percentile, round1, summary
from rpsa.tools.loadtest.usage import ProcSampler, steal_usage, window_usage

log = Logger(namespace="rpsa.tools.loadtest")

# Safety bound on any single loop that walks a per-run collection (and on --games).
MAX_GAMES = 100_000

# Every key of the JSON report ("server" and "aux" only with --server-pid and --aux-pid).
REPORT_KEYS = (
    "tool", "label", "mode", "routes", "games", "ramp", "rampS", "settleS", "measureS", "tickMs", "http", "ws",
    "hardStop", "startedAt", "windowS", "started", "completed", "completedInWindow", "errors", "errorsTotal",
    "errorsInWindow", "closeHandshakeTimeouts", "tickJitterMs", "jitterBurstsAll", "httpLatencyMs",
    "httpOkPerSec", "gameLengthTicks", "gameLengthS", "server", "aux", "steal", "generator",
)


class Timers:
    """The run's clock and delayed calls, on ``reactor``: ``now()`` in ms since ``start()``."""

    def __init__(self, reactor):
        self._reactor = reactor
        self._t0 = 0.0
        self._calls: set = set()

    def start(self) -> None:
        """The run starts now."""
        self._t0 = self._reactor.seconds()

    def now(self) -> float:
        """Milliseconds since the start of the run."""
        return (self._reactor.seconds() - self._t0) * 1000

    def call_later(self, delay_s: float, f: Callable, *args) -> None:
        """A delayed call that ``cancel_all()`` cancels."""
        holder: List[Any] = []

        def fire():
            self._calls.discard(holder[0])
            f(*args)

        dc = self._reactor.callLater(max(0.0, delay_s), fire)
        holder.append(dc)
        self._calls.add(dc)

    def cancel_all(self) -> None:
        """Cancel every delayed call still pending."""
        for dc in list(self._calls):
            if dc.active():
                dc.cancel()
        self._calls.clear()


class LoopLag:
    """Event-loop lateness: a LoopingCall every 10 ms on ``reactor`` records how late each call came."""

    INTERVAL = 0.010

    def __init__(self, reactor):
        self._reactor = reactor
        self._prev: Optional[float] = None
        self.recording = False
        self.samples: List[float] = []
        self._call = task.LoopingCall(self._tick)
        self._call.clock = reactor

    def start(self) -> None:
        """Start the 10 ms calls (samples are kept only while ``recording``)."""
        self._call.start(self.INTERVAL, now=False)

    def stop(self) -> None:
        """Stop the calls."""
        if self._call.running:
            self._call.stop()

    def _tick(self) -> None:
        t = self._reactor.seconds()
        if self._prev is not None and self.recording:
            self.samples.append((t - self._prev - self.INTERVAL) * 1000)
        self._prev = t


class LoadTest(SocketOwner, GameOwner):
    """One load-test run against one server; ``run()`` fires with the JSON report (a dict).

    ``reactor`` runs it; ``cfg`` is the parsed command line (``cli.parse_options``);
    ``proc`` samples /proc (default: a ProcSampler of the real /proc); ``err``
    receives the progress lines (default: stderr).
    """

    def __init__(self, reactor, cfg, proc: Optional[ProcSampler] = None, err: Optional[Any] = None):
        self._reactor = reactor
        self.cfg = cfg
        self.proc = proc or ProcSampler()
        self._err = err if err is not None else sys.stderr
        self.timeline = Timeline(cfg.games, cfg.ramp, cfg.settle, cfg.measure, cfg.max_seconds)
        self.stats = Stats(self.timeline.window)
        self.rng = random.Random(cfg.seed)
        self.run_id = secrets.token_hex(3)
        self.timers = Timers(reactor)
        self.active: set = set()
        self._sockets: set = set()
        self._gone_waiters: List[defer.Deferred] = []
        self._loops: List[task.LoopingCall] = []
        self._seq = 0
        self._made = 0
        self._ramp_t0 = 0.0
        self._stopping = False
        self._finished = False
        self._self_cpu_win: Optional[float] = None
        self.samples: Dict[str, List[Dict[str, Any]]] = {"server": [], "aux": [], "self": [], "steal": []}
        self._lost_server = False
        self.lag = LoopLag(reactor)
        self.http: Optional[HttpClient] = None
        self._done: Optional[defer.Deferred] = None

    def now(self) -> float:
        """Milliseconds since the start of the run."""
        return self.timers.now()

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
        self.timers.start()
        self.started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        self._done = defer.Deferred()
        self.http = HttpClient(self._reactor, self.cfg, self.stats, self.now)
        tl = self.timeline
        self._loop(1.0, self._sample_all, True)
        self._loop(0.5, self._watchdog, False)
        if self.cfg.progress > 0:
            self._loop(self.cfg.progress, self._progress, False)
        self.lag.start()
        self.timers.call_later(tl.hard_end / 1000, self._hard_stop)
        self.timers.call_later(max(0.0, tl.window.start) / 1000, self._open_window)
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
        g = Game(f"lg-{self.run_id}-{slot}-{self._seq}", slot, self.cfg, self.rng, self.timers, self.http,
                 self.stats, self._reactor, self, self)
        self._seq += 1
        self.active.add(g)
        self.stats.started += 1
        g.run()

    def game_ended(self, game: Game, failed: bool) -> None:
        self.active.discard(game)
        if self.cfg.mode != "steady" or self._stopping:
            return
        d = max(1000.0, self.cfg.restart_delay_ms) if failed else self.cfg.restart_delay_ms
        self.timers.call_later(d / 1000, self._run_slot, game.slot)

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

    def socket_made(self, proto: PlayerProtocol) -> None:
        self._sockets.add(proto)

    def socket_gone(self, proto: PlayerProtocol) -> None:
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
        self.timers.cancel_all()
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
