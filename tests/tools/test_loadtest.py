"""Tests of ``rpsa.tools.loadtest``: its pure statistics, its options and its report on tiny runs.

The statistics (percentiles, tick jitter, /proc parsing, the report) are checked
against hand-made inputs; the tool as a whole is run against a tiny in-process
fake server (twisted.web for HTTP, autobahn for the WebSocket) that plays a
scripted match with a 10 ms tick, on 127.0.0.1 with ports chosen by the kernel.
"""

import io
import json
import os
import subprocess

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.internet import defer, reactor, task
from twisted.protocols.policies import WrappingFactory
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web import resource, server

from rpsa.tools import loadtest as lt
from tests.support.process import child_env, python_command

TICK_MS = 10


# ---------------------------------------------------------------- message builders


def round_event(kind, data=None):
    """An RPSRoundEvent message as the server sends it."""
    return {"type": "RPSRoundEvent", "eventData": {"type": kind, "data": data or {}, "classtype": "RPSRoundEvent"}}


def state_change(old, new):
    """A STATE_CHANGE round event."""
    return round_event(2, {"oldState": old, "newState": new})


def sync(h1=100, h2=100):
    """A sync message."""
    return {"type": "sync", "gameData": {"p1Health": h1, "p2Health": h2}}


GAME_STARTED = {"type": "RPSGameEvent", "eventData": {"type": 0, "data": {}, "classtype": "RPSGameEvent"}}
GAME_COMPLETE = {"type": "RPSGameEvent",
                 "eventData": {"type": 1, "data": {"winnerId": "p1", "loserId": "p2"}, "classtype": "RPSGameEvent"}}


def ceiling_script(rounds=1, exchanges=2):
    """The bursts of ceiling_server.js's scripted match (None is a silent tick)."""
    b = []
    for r in range(rounds):
        if r == 0:
            b.append([round_event(5), state_change(0, 1), sync()])
        else:
            b.append([round_event(5)])
            b.append([state_change(0, 1), sync()])
        for v in (3, 2, 1):
            b.append([round_event(0, {"value": v})])
        b.append([state_change(1, 2), sync()])
        for e in range(exchanges):
            for v in (3, 2, 1):
                b.append([round_event(1, {"value": v})])
            hp = max(0, 100 - 25 * (e + 1))
            b.append([round_event(3, {"attackSummary": {}}), state_change(2, 3), sync(100, hp)])
            if e < exchanges - 1:
                b.append(None)
                b.append([state_change(3, 2), sync(100, hp)])
            else:
                b.append([state_change(3, 4), sync(100, hp), round_event(4, {"roundWinnerId": "p1"})])
    b.append(None)
    b.append([GAME_COMPLETE])
    return b


def timeline_of(script, start=0.0, tick=1000.0, late=None, spread=0.5):
    """A host-socket timeline of a script: burst k at start + k * tick (+ late[k]), messages ``spread`` ms apart."""
    late = late or {}
    out = [(start, GAME_STARTED)]
    for k, burst in enumerate(script, start=1):
        if burst is None:
            continue
        t = start + k * tick + late.get(k, 0.0)
        for i, m in enumerate(burst):
            out.append((t + i * spread, m))
    return out


# ---------------------------------------------------------------- pure statistics


class PercentileTests(SynchronousTestCase):
    """percentile and summary follow loadgen.js (nearest rank, JavaScript rounding)."""

    def test_nearest_rank(self):
        """The p-th percentile of 1..100 is the value of rank ceil(p/100 * n)."""
        values = list(range(1, 101))
        self.assertEqual(lt.percentile(values, 50), 50)
        self.assertEqual(lt.percentile(values, 99), 99)
        self.assertEqual(lt.percentile(values, 100), 100)
        self.assertEqual(lt.percentile(values, 0), 1)

    def test_small_samples(self):
        """With three values p50 is the second and p99 the largest."""
        self.assertEqual(lt.percentile([1, 5, 9], 50), 5)
        self.assertEqual(lt.percentile([1, 5, 9], 99), 9)
        self.assertEqual(lt.percentile([7], 1), 7)

    def test_empty(self):
        """The percentile of nothing is None."""
        self.assertIsNone(lt.percentile([], 50))

    def test_summary(self):
        """summary sorts the values and rounds to 0.1 with halves towards +infinity, as Math.round does."""
        s = lt.summary([0.25, -0.25, 3.0, -7.06])
        self.assertEqual(s, {"n": 4, "p50": -0.2, "p90": 3.0, "p99": 3.0, "max": 3.0, "min": -7.1})

    def test_summary_empty(self):
        """The summary of no values has n 0 and None everywhere else."""
        self.assertEqual(lt.summary([]), {"n": 0, "p50": None, "p90": None, "p99": None, "max": None, "min": None})


class JitterTests(SynchronousTestCase):
    """Tick jitter on the host socket, computed exactly as loadgen.js does."""

    def test_on_time_script_has_zero_jitter(self):
        """A scripted match whose bursts all come on their tick scores 0 for every burst, silent ticks included."""
        script = ceiling_script(rounds=1, exchanges=2)
        jit = lt.jitter_from_timeline(timeline_of(script), 1000)
        self.assertEqual(jit, [0.0] * sum(1 for b in script if b is not None))

    def test_ticks_of_a_game(self):
        """A tracker fed a whole match counts every tick of it, the silent ones included."""
        script = ceiling_script(rounds=3, exchanges=10)
        bj = lt.BurstJitter(1000)
        for t, m in timeline_of(script):
            kind, n = lt.classify_host_message(m)
            if kind == lt.START_MSG:
                bj.start(t)
            elif kind == lt.COMPLETE_MSG:
                bj.complete(t)
            elif kind == lt.TICK_MSG:
                bj.message(t, n)
        self.assertEqual(bj.ticks, len(script))

    def test_first_burst_measured_from_game_started(self):
        """The first burst is scored against GAME_STARTED, one tick earlier."""
        tl = [(0, GAME_STARTED), (1030, round_event(5)), (1031, sync()), (2030, round_event(0)), (3030, sync())]
        self.assertEqual(lt.jitter_from_timeline(tl, 1000), [30, 0])

    def test_late_burst_shortens_the_next_gap(self):
        """A burst 50 ms late scores +50 and the next, on time, scores -50."""
        tl = [(0, GAME_STARTED), (1000, sync()), (2050, sync()), (3000, sync()), (4000, sync())]
        self.assertEqual(lt.jitter_from_timeline(tl, 1000), [0, 50, -50])

    def test_same_burst_within_half_a_tick(self):
        """Messages less than tick/2 after a burst's start join it; at exactly tick/2 a new burst starts."""
        tl = [(0, GAME_STARTED), (1000, sync()), (1499, sync()), (2000, sync()), (2500, sync()), (3500, sync())]
        # bursts start at 1000, 2000, 2500, 3500: 1000-0-1000, 2000-1000-1000, 2500-2000-1000, 3500-2500-1000
        self.assertEqual(lt.jitter_from_timeline(tl, 1000), [0, 0, -500])

    def test_state_change_3_to_2_follows_a_silent_tick(self):
        """A burst holding STATE_CHANGE 3 -> 2 is expected two ticks after the previous one."""
        tl = [(0, GAME_STARTED), (1000, state_change(2, 3)), (3000, state_change(3, 2)), (3001, sync()),
              (4000, round_event(1)), (5000, round_event(1))]
        self.assertEqual(lt.jitter_from_timeline(tl, 1000), [0, 0, 0])

    def test_silent_tick_rule_applies_to_the_whole_burst(self):
        """STATE_CHANGE 3 -> 2 later in a burst still makes the burst's n 2."""
        tl = [(0, GAME_STARTED), (1000, sync()), (3000, sync()), (3002, state_change(3, 2)), (4000, sync()),
              (5000, sync())]
        self.assertEqual(lt.jitter_from_timeline(tl, 1000), [0, 0, 0])

    def test_other_state_changes_are_one_tick(self):
        """STATE_CHANGE 3 -> 4 (someone defeated) is one tick after the previous burst."""
        tl = [(0, GAME_STARTED), (1000, sync()), (3000, state_change(3, 4)), (4000, sync()), (5000, sync())]
        self.assertEqual(lt.jitter_from_timeline(tl, 1000), [0, 1000, 0])

    def test_last_burst_waits_for_the_next(self):
        """A burst is scored only once the next burst starts (its tick count is known then), as in loadgen.js."""
        tl = [(0, GAME_STARTED), (1000, sync()), (2000, sync()), (3000, sync())]
        self.assertEqual(lt.jitter_from_timeline(tl, 1000), [0, 0])

    def test_game_complete_follows_a_silent_tick(self):
        """GAME_COMPLETE two ticks after the last burst scores 0 and is scored at once."""
        tl = [(0, GAME_STARTED), (1000, sync()), (2000, round_event(4)), (4010, GAME_COMPLETE)]
        self.assertEqual(lt.jitter_from_timeline(tl, 1000), [0, 0, 10])

    def test_messages_outside_a_match_are_ignored(self):
        """Messages before GAME_STARTED or after GAME_COMPLETE, and non-tick messages, do not count."""
        tl = [(0, sync()), (10, {"type": "welcome"}), (20, {"type": "player_joined"}), (100, GAME_STARTED),
              (1100, sync()), (1150, {"type": "select_fighter"}), (3100, GAME_COMPLETE), (4100, sync())]
        self.assertEqual(lt.jitter_from_timeline(tl, 1000), [0, 0])

    def test_window_filters_by_burst_start(self):
        """Only bursts that start inside the window (bounds included) count."""
        tl = [(0, GAME_STARTED)] + [(k * 1000 + k, sync()) for k in range(1, 7)]
        # bursts at 1001, 2002, 3003, 4004, 5005, 6006 -> each gap 1001 -> jitter 1 (first: 1001)
        window = lt.Window(2002, 4004)
        self.assertEqual(lt.jitter_from_timeline(tl, 1000, window), [1, 1, 1])
        self.assertEqual(len(lt.jitter_from_timeline(tl, 1000)), 5)

    def test_window_contains(self):
        """A window includes both of its bounds."""
        w = lt.Window(10.0, 20.0)
        self.assertIn(10.0, w)
        self.assertIn(20.0, w)
        self.assertNotIn(9.999, w)
        self.assertNotIn(20.001, w)

    def test_classify(self):
        """classify_host_message tells game start, game end and tick messages with their tick counts."""
        self.assertEqual(lt.classify_host_message(GAME_STARTED), (lt.START_MSG, 0))
        self.assertEqual(lt.classify_host_message(GAME_COMPLETE), (lt.COMPLETE_MSG, 2))
        self.assertEqual(lt.classify_host_message(state_change(3, 2)), (lt.TICK_MSG, 2))
        self.assertEqual(lt.classify_host_message(state_change(2, 3)), (lt.TICK_MSG, 1))
        self.assertEqual(lt.classify_host_message(sync()), (lt.TICK_MSG, 1))
        self.assertEqual(lt.classify_host_message({"type": "welcome"}), (None, 0))
        self.assertEqual(lt.classify_host_message([1, 2]), (None, 0))


class TimelineTests(SynchronousTestCase):
    """The ramp, window and hard end of a run."""

    def test_window_follows_ramp_and_settle(self):
        """The window opens after ramp + settle and lasts measure seconds; the hard end is 60 s later."""
        tl = lt.Timeline(games=200, ramp_s=20, settle_s=5, measure_s=20, max_seconds=0)
        self.assertEqual((tl.window.start, tl.window.end, tl.hard_end), (25000, 45000, 105000))
        self.assertEqual(tl.rate, 10)

    def test_due_slots(self):
        """Slots are due at the ramp rate, the first one at once; a zero ramp starts them all at once."""
        tl = lt.Timeline(games=200, ramp_s=20, settle_s=0, measure_s=1, max_seconds=30)
        self.assertEqual([tl.due(0), tl.due(99), tl.due(100), tl.due(1000)], [1, 1, 2, 11])
        self.assertEqual(tl.hard_end, 30000)
        self.assertEqual(lt.Timeline(5, 0, 0, 1, 0).due(0), float("inf"))


class ProcTests(SynchronousTestCase):
    """Parsing /proc and computing CPU% and RSS over the window."""

    def test_parse_stat(self):
        """utime and stime are read after the last ')' of the command name, whatever it holds."""
        text = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 1 0 100 0 0\n"
        self.assertEqual(lt.parse_proc_stat(text, 100), 3.0)

    def test_parse_vmrss(self):
        """VmRSS is read in kB; a status without it gives None."""
        self.assertEqual(lt.parse_vmrss_kb("Name:\tx\nVmRSS:\t   65432 kB\nThreads: 1\n"), 65432)
        self.assertIsNone(lt.parse_vmrss_kb("Name:\tx\n"))

    def test_parse_steal(self):
        """Steal jiffies are the eighth number of each per-CPU line of /proc/stat."""
        text = "cpu  1 2 3 4 5 6 7 99 0 0\ncpu0 1 2 3 4 5 6 7 40 0 0\ncpu1 1 2 3 4 5 6 7 59 0 0\nintr 5\n"
        self.assertEqual(lt.parse_steal(text), {"cpu0": 40, "cpu1": 59})

    def test_window_usage(self):
        """CPU% spans the samples nearest the window, with the busiest 1 s sample and RSS start/end/max in MB."""
        samples = [
            {"t": 0, "cpu": 0.0, "rssKb": 1024},
            {"t": 1000, "cpu": 0.1, "rssKb": 2048},  # inside the window
            {"t": 2000, "cpu": 0.5, "rssKb": 4096},
            {"t": 3000, "cpu": 0.6, "rssKb": 3072},
            {"t": 9000, "cpu": 9.0, "rssKb": 9999},  # after the window
        ]
        u = lt.window_usage(samples, 1000, 3000)
        self.assertEqual(u, {"cpuPct": 25.0, "cpuPctMaxSample": 40.0, "rssMbStart": 2.0, "rssMbEnd": 3.0,
                             "rssMbMax": 4.0})

    def test_window_usage_needs_two_samples(self):
        """Fewer than two samples in or near the window give None."""
        self.assertIsNone(lt.window_usage([{"t": 0, "cpu": 0, "rssKb": 1}], 0, 10))
        self.assertIsNone(lt.window_usage([{"t": 0, "cpu": 0, "rssKb": 1}, {"t": 1, "cpu": 0, "rssKb": 1}],
                                          5000, 6000))

    def test_steal_usage(self):
        """Steal % over the window is computed per CPU, with its busiest 1 s sample."""
        samples = [{"t": 0, "v": {"cpu0": 0}}, {"t": 1000, "v": {"cpu0": 10}}, {"t": 2000, "v": {"cpu0": 12}}]
        self.assertEqual(lt.steal_usage(samples, 0, 2000, 100), {"cpu0": {"pct": 6.0, "maxPct1s": 10.0}})


def sample_report(**over):
    """A made-up JSON report with every key the tool writes."""
    r = {
        "tool": "rpsa.tools.loadtest", "label": "t1", "mode": "steady", "routes": "compat", "games": 200, "ramp": 10.0,
        "rampS": 20.0, "settleS": 5.0, "measureS": 20.0, "tickMs": 1000.0, "http": "http://127.0.0.1:8080",
        "ws": "ws://127.0.0.1:8085", "hardStop": False, "startedAt": "2026-01-01T00:00:00.000+00:00",
        "windowS": 20.0, "started": 200, "completed": 3, "completedInWindow": 1,
        "errors": {"http_status_500": 2, "timeout_tick": 1}, "errorsTotal": 3, "errorsInWindow": 1,
        "closeHandshakeTimeouts": 0,
        "tickJitterMs": {"n": 4000, "p50": 0.3, "p90": 1.1, "p99": 5.3, "max": 14.0, "min": -5.0},
        "jitterBurstsAll": 9000,
        "httpLatencyMs": {"n": 0, "p50": None, "p90": None, "p99": None, "max": None, "min": None},
        "httpOkPerSec": 0.0,
        "gameLengthTicks": {"n": 3, "p50": 196, "p90": 196, "p99": 196, "max": 196, "min": 196},
        "gameLengthS": {"n": 3, "p50": 196.0, "p90": 196.0, "p99": 196.0, "max": 196.0, "min": 196.0},
        "server": {"cpuPct": 12.5, "cpuPctMaxSample": 20.0, "rssMbStart": 60.0, "rssMbEnd": 61.0, "rssMbMax": 62.0},
        "steal": {"cpu0": {"pct": 1.0, "maxPct1s": 3.0}},
        "generator": {"cpuPct": 8.0, "loopDelayP99Ms": 1.5, "loopDelayMaxMs": 9.0, "rssMb": 60.0},
    }
    r.update(over)
    return r


class ReportTests(SynchronousTestCase):
    """The human report and the JSON line."""

    def test_sample_has_every_key(self):
        """The made-up report used here has exactly the keys the tool documents (aux aside)."""
        self.assertEqual(set(sample_report()) | {"aux"}, set(lt.REPORT_KEYS))

    def test_text(self):
        """The text report gives games, errors by kind, jitter, HTTP, server and generator figures."""
        text = lt.format_report(sample_report())
        self.assertIn("[t1]", text)
        self.assertIn("games: started 200, completed 3 (1 in the window)", text)
        self.assertIn("errors: 3 total, 1 in the window: http_status_500 2, timeout_tick 1", text)
        self.assertIn("tick jitter ms (tick 1000.0 ms): n 4000  p50 0.3  p90 1.1  p99 5.3  max 14.0  min -5.0", text)
        self.assertIn("http latency ms: n 0;", text)
        self.assertIn("server: cpu 12.5% (max 1 s sample 20.0%), rss 60.0 MB at window start, 61.0 MB at end", text)
        self.assertIn("generator: cpu 8.0%, event-loop lag p99 1.5 ms, max 9.0 ms", text)
        self.assertNotIn("HARD STOP", text)

    def test_text_hard_stop_and_no_server(self):
        """A hard stop is flagged; a missing server sample says so; no errors prints no kinds."""
        text = lt.format_report(sample_report(hardStop=True, server=None, errors={}, errorsTotal=0,
                                              errorsInWindow=0))
        self.assertIn("HARD STOP", text)
        self.assertIn("server: no samples in the window", text)
        self.assertIn("errors: 0 total, 0 in the window\n", text)

    def test_json_line_appends(self):
        """Each report is appended to the --json file as one JSON line."""
        path = self.mktemp()
        lt.write_json_line(path, sample_report(label="a"))
        lt.write_json_line(path, sample_report(label="b"))
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertEqual([json.loads(line)["label"] for line in lines], ["a", "b"])

    def test_json_to_stdout(self):
        """--json - writes the line to stdout."""
        out = io.StringIO()
        lt.write_json_line("-", sample_report(), stdout=out)
        self.assertEqual(json.loads(out.getvalue())["completed"], 3)


class OptionTests(SynchronousTestCase):
    """Command-line parsing and its errors."""

    def test_defaults(self):
        """Defaults: native routes, steady mode, 100 games ramped at 100 games/s, 1 s tick."""
        o = lt.parse_options([])
        self.assertEqual((o.compat, o.mode, o.games, o.ramp, o.tick_ms, o.ws),
                         (False, "steady", 100, 1.0, 1000.0, None))

    def test_compat_ws_defaults_to_http_host(self):
        """With --compat and no --ws, the WebSocket base is the --http URL with a ws scheme."""
        o = lt.parse_options(["--compat", "--http", "http://127.0.0.1:9000/"])
        self.assertEqual((o.http, o.ws), ("http://127.0.0.1:9000", "ws://127.0.0.1:9000"))

    def test_ramp_rate(self):
        """--ramp-rate R (games per second, loadgen.js's --ramp) means a ramp of games / R seconds."""
        self.assertEqual(lt.parse_options(["--games", "200", "--ramp-rate", "10"]).ramp, 20)
        self.assertEqual(lt.parse_options(["--games", "200", "--ramp", "5"]).ramp, 5)

    def test_api_key_file(self):
        """--api-key-file reads the key from the first line of the file."""
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("s3cret\nignored\n")
        self.assertEqual(lt.parse_options(["--api-key-file", path]).api_key, "s3cret")

    def assertRejected(self, argv, fragment):
        """parse_options(argv) raises OptionsError whose message contains fragment."""
        e = self.assertRaises(lt.OptionsError, lt.parse_options, argv)
        self.assertIn(fragment, str(e))

    def test_errors(self):
        """Unknown, abbreviated, malformed, out-of-range and conflicting options are rejected with a reason."""
        self.assertRejected(["--bogus"], "unrecognized")
        self.assertRejected(["--comp"], "unrecognized")
        self.assertRejected(["--games", "0"], "at least 1")
        self.assertRejected(["--games", "x"], "not an integer")
        self.assertRejected(["--measure", "0"], "> 0")
        self.assertRejected(["--settle", "nan"], "finite")
        self.assertRejected(["--mode", "idle"], "invalid choice")
        self.assertRejected(["--http", "ftp://x"], "--http")
        self.assertRejected(["--ramp", "5", "--ramp-rate", "5"], "not both")
        self.assertRejected(["--api-key", "a", "--api-key-file", "b"], "not both")
        self.assertRejected(["--api-key-file", "/nonexistent/key"], "cannot read")
        self.assertRejected(["--ws", "ws://x:1"], "only applies with --compat")
        self.assertRejected(["--compat", "--rounds", "3"], "native")
        self.assertRejected(["--compat", "--ws", "http://x:1"], "--ws")
        self.assertRejected(["--fighters", ","], "no fighter")
        self.assertRejected(["--json", "/nonexistent/dir/out.jsonl"], "--json")

    def test_usage_error_exit_status(self):
        """``python -m rpsa.tools.loadtest`` with a bad option exits 2 and says why on stderr."""
        proc = subprocess.run(python_command("-m", "rpsa.tools.loadtest", "--games", "0"), env=child_env(),
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--games", proc.stderr)


# ---------------------------------------------------------------- tiny in-process server


class FakeServer:
    """Just enough of an RPSA server for the tool: create/join over HTTP, a scripted match over WebSocket."""

    def __init__(self, native=True, http_status=None, close_host_with=None, tick_s=TICK_MS / 1000.0):
        self.native = native
        self.http_status = http_status
        self.close_host_with = close_host_with
        self.tick_s = tick_s
        self.games = {}
        self.tokens = {}
        self.auth_headers = []
        self.ws_port = None
        self.http_port = None
        self.script = ceiling_script(rounds=1, exchanges=2)
        self._ports = []
        self._wrappers = []

    def start(self):
        """Listen on 127.0.0.1 with kernel-chosen ports."""
        ws = WebSocketServerFactory(reactor=reactor)
        ws.setProtocolOptions(openHandshakeTimeout=0, closeHandshakeTimeout=0)
        ws.protocol = FakeGameProtocol
        ws.server = self
        ws_wrapper = WrappingFactory(ws)
        p = reactor.listenTCP(0, ws_wrapper, interface="127.0.0.1")
        self.ws_port = p.getHost().port
        http_wrapper = WrappingFactory(server.Site(FakeHttp(self)))
        q = reactor.listenTCP(0, http_wrapper, interface="127.0.0.1")
        self.http_port = q.getHost().port
        self._ports = [p, q]
        self._wrappers = [ws_wrapper, http_wrapper]

    @defer.inlineCallbacks
    def stop(self):
        """Stop listening, stop the games and wait (boundedly) for every connection to be gone."""
        for g in self.games.values():
            if g["loop"] is not None and g["loop"].running:
                g["loop"].stop()
        for p in self._ports:
            yield p.stopListening()
        for _ in range(300):
            if not any(w.protocols for w in self._wrappers):
                break
            yield task.deferLater(reactor, 0.01, lambda: None)
        for w in self._wrappers:
            for proto in list(w.protocols):
                proto.transport.abortConnection()
        yield task.deferLater(reactor, 0.01, lambda: None)

    def new_game(self, game_id, user, name):
        """Register a game hosted by user; return its token."""
        token = "tok-%s" % game_id
        g = {"id": game_id, "token": token, "users": [user, None], "conns": [None, None], "fighter": [None, None],
             "ready": [False, False], "loop": None, "pos": 0}
        self.games[game_id] = g
        self.tokens[token] = g
        return token

    def ws_url(self, token, user):
        """The absolute WebSocket URL a native server hands out."""
        return "ws://127.0.0.1:%d/?game_token=%s&user_id=%s" % (self.ws_port, token, user)


class FakeHttp(resource.Resource):
    """POST routes of both route sets."""

    isLeaf = True

    def __init__(self, fake):
        super().__init__()
        self.fake = fake

    def render_POST(self, request):
        fake = self.fake
        fake.auth_headers.append(request.getHeader("authorization"))
        request.setHeader("content-type", "application/json")
        if fake.http_status:
            request.setResponseCode(fake.http_status)
            return b'{"message":"nope"}'
        body = json.loads(request.content.read() or b"{}")
        path = request.path.decode()
        if path == "/api/games":
            gid = "g%d" % (len(fake.games) + 1)
            token = fake.new_game(gid, body["user_id"], body["username"])
            request.setResponseCode(201)
            return self._seat(gid, token, body["user_id"])
        if path.startswith("/api/games/") and path.endswith("/players"):
            g = fake.games[path.split("/")[3]]
            g["users"][1] = body["user_id"]
            request.setResponseCode(201)
            return self._seat(g["id"], g["token"], body["user_id"])
        if path == "/create_game":
            return json.dumps({"gameToken": fake.new_game(body["gameId"], body["userId"], body["username"])}).encode()
        if path == "/join_game":
            g = fake.games[body["gameId"]]
            g["users"][1] = body["userId"]
            return json.dumps({"gameToken": g["token"]}).encode()
        request.setResponseCode(404)
        return b'{"message":"not found"}'

    def _seat(self, gid, token, user):
        url = self.fake.ws_url(token, user)
        return json.dumps({"game_id": gid, "player_token": token, "ws_url": url, "spectate_url": url}).encode()


class FakeGameProtocol(WebSocketServerProtocol):
    """One player's socket on the fake server: the ceiling server's behaviour with a fast tick."""

    def onConnect(self, request):
        fake = self.factory.server
        token = request.params.get("game_token", [None])[0]
        user = request.params.get("user_id", [None])[0]
        g = fake.tokens.get(token)
        if g is None or user not in g["users"]:
            raise ConnectionDeny(403, "bad token")
        self.game, self.role, self.user = g, g["users"].index(user), user

    def broadcast(self, msg):
        data = json.dumps(msg).encode()
        for c in self.game["conns"]:
            if c is not None:
                c.sendMessage(data)

    def onOpen(self):
        fake, g = self.factory.server, self.game
        g["conns"][self.role] = self
        if fake.native:
            self.sendMessage(b'{"type":"welcome","protocol":1}')
        self.broadcast({"type": "player_joined", "gameData": {"p1Id": g["users"][0], "p2Id": g["users"][1]}})
        if fake.close_host_with and self.role == 0:
            self.sendClose(fake.close_host_with, "scripted close")

    def onMessage(self, payload, isBinary):
        g, role = self.game, self.role
        m = json.loads(payload)
        if m.get("type") == "select_fighter" and g["fighter"][role] is None:
            g["fighter"][role] = m["characterId"]
            self.sendMessage(json.dumps({"type": "select_fighter", "gameData": {
                "playerId": self.user, "selectedCharacterId": m["characterId"]}}).encode())
        elif m.get("type") == "start_battle" and g["loop"] is None:
            g["ready"][role] = True
            if all(g["ready"]):
                self.broadcast(GAME_STARTED)
                g["loop"] = task.LoopingCall(self.tick)
                g["loop"].clock = reactor
                g["loop"].start(self.factory.server.tick_s, now=False)

    def tick(self):
        g = self.game
        burst = self.factory.server.script[g["pos"]]
        g["pos"] += 1
        for m in burst or []:
            self.broadcast(m)
        if g["pos"] >= len(self.factory.server.script):
            g["loop"].stop()

    def onClose(self, wasClean, code, reason):
        g = getattr(self, "game", None)
        if g is None:
            return
        g["conns"][self.role] = None
        if g["loop"] is not None and g["loop"].running:
            g["loop"].stop()
        for c in g["conns"]:
            if c is not None:
                c.sendClose(1000, "game removed")


class TinyRunTests(TestCase):
    """The load tool's report on a tiny run against the in-process fake server."""

    timeout = 60

    def start_fake(self, **kw):
        """Start a FakeServer stopped at the end of the test."""
        fake = FakeServer(**kw)
        fake.start()
        self.addCleanup(fake.stop)
        return fake

    def options(self, fake, *extra):
        """Options of a 2-game once run against the fake server."""
        argv = ["--http", "http://127.0.0.1:%d" % fake.http_port, "--mode", "once", "--games", "2",
                "--ramp", "0", "--settle", "0", "--measure", "30", "--max-seconds", "30",
                "--tick-ms", str(TICK_MS), "--progress", "0", "--seed", "1"]
        if not fake.native:
            argv += ["--compat", "--ws", "ws://127.0.0.1:%d" % fake.ws_port]
        return lt.parse_options(argv + list(extra))

    def run_tool(self, cfg):
        """Run the tool on the test's reactor; fire with its report."""
        return lt.LoadTest(reactor, cfg, err=io.StringIO()).run()

    @defer.inlineCallbacks
    def test_native_two_games(self):
        """On native routes, 2 games in once mode complete with 0 errors, jitter is measured, the key is sent."""
        fake = self.start_fake(native=True)
        report = yield self.run_tool(self.options(fake, "--api-key", "k1", "--server-pid", str(os.getpid())))
        self.assertEqual((report["completed"], report["errorsTotal"], report["errors"]), (2, 0, {}))
        self.assertFalse(report["hardStop"])
        self.assertEqual(report["routes"], "native")
        self.assertGreater(report["tickJitterMs"]["n"], 0)
        self.assertEqual(report["httpLatencyMs"]["n"], 4)
        self.assertEqual(fake.auth_headers, ["Bearer k1"] * 4)
        self.assertIsNotNone(report["server"]["rssMbEnd"])
        self.assertTrue(set(lt.REPORT_KEYS) - {"aux"} <= set(report))
        json.dumps(report)  # serialisable
        text = lt.format_report(report)
        self.assertIn("completed 2", text)
        self.assertIn("errors: 0 total", text)

    @defer.inlineCallbacks
    def test_compat_two_games(self):
        """On --compat routes with a separate WebSocket port, 2 games complete with 0 errors."""
        fake = self.start_fake(native=False)
        report = yield self.run_tool(self.options(fake))
        self.assertEqual((report["completed"], report["errorsTotal"]), (2, 0))
        self.assertEqual(report["routes"], "compat")
        self.assertEqual(report["gameLengthTicks"]["n"], 2)
        self.assertEqual(fake.auth_headers, [None] * 4)

    @defer.inlineCallbacks
    def test_http_errors_counted(self):
        """An HTTP status other than the expected one is counted by kind and no game starts playing."""
        fake = self.start_fake(native=True, http_status=503)
        report = yield self.run_tool(self.options(fake))
        self.assertEqual((report["completed"], report["errors"]), (0, {"http_status_503": 2}))

    @defer.inlineCallbacks
    def test_early_close_counted(self):
        """A socket closed by the server before GAME_COMPLETE counts as ws_unexpected_close_<code>."""
        fake = self.start_fake(native=False, close_host_with=4002)
        report = yield self.run_tool(self.options(fake))
        self.assertEqual((report["completed"], report["errors"]), (0, {"ws_unexpected_close_4002": 2}))

    @defer.inlineCallbacks
    def test_connection_refused_counted(self):
        """A WebSocket that cannot connect counts as ws_error_ECONNREFUSED."""
        fake = self.start_fake(native=False)
        # A port that was just free: listen, note it, stop listening.
        p = reactor.listenTCP(0, server.Site(resource.Resource()), interface="127.0.0.1")
        dead_port = p.getHost().port
        yield p.stopListening()
        cfg = lt.parse_options([
            "--http", "http://127.0.0.1:%d" % fake.http_port, "--compat", "--ws", "ws://127.0.0.1:%d" % dead_port,
            "--mode", "once", "--games", "2", "--ramp", "0", "--settle", "0", "--measure", "30",
            "--max-seconds", "30", "--progress", "0"])
        report = yield self.run_tool(cfg)
        self.assertEqual((report["completed"], report["errors"]), (0, {"ws_error_ECONNREFUSED": 2}))
