"""Tests for rpsa.matches.warmpool: on the fake process reactor, then with the real ``rpsa.matches.child``.

The real-child test runs the launcher on the real reactor; it spawns
``python -m rpsa.matches.child`` (this interpreter, importing the rpsa under
test) on a small range of free 127.0.0.1 ports, and a launch is answered by a
child that already holds its port.
"""

from __future__ import annotations

import sys

from twisted.internet import defer, reactor, task
from twisted.python.runtime import platform
from twisted.trial.unittest import TestCase

from rpsa.matches.launcher import MatchLauncher
from rpsa.matches.children import MatchChildren
from rpsa.matches.warmpool import WARM_RETRY_MAX, WARM_RETRY_MIN, WarmPool
from rpsa.play.settings import GameSettings
from tests.support.process import free_port_range, process_gone
from tests.support.process import child_env
from tests.support.wsclient import connect, of_type
from tests.matches.fakes import CONFIG, TOKEN_A, TOKEN_B, LauncherTestCase, match_request

REAL_TOKEN_A = "warm-token-of-ann"
REAL_TOKEN_B = "warm-token-of-ben"
POLL = 0.05


def real_match_request(match_id):
    """A launch request for a match between ann and ben, with their tokens."""
    return {
        "match_id": match_id,
        "rounds": 1,
        "players": [
            {"user_id": "ann", "username": "Ann", "token": REAL_TOKEN_A},
            {"user_id": "ben", "username": "Ben", "token": REAL_TOKEN_B},
        ],
    }


def sleep(seconds):
    """A Deferred firing after ``seconds`` on the real reactor."""
    return task.deferLater(reactor, seconds, lambda: None)


class WarmPoolTests(LauncherTestCase):
    """The warm pool: children spawned ahead of time with a port, waiting for their match."""

    def start_pool(self, warm=2, **kwargs):
        """Replace the launcher by one with ``warm`` warm children and start warming; return its spawns."""
        self.launcher = self.make_launcher(warm=warm, **kwargs)
        before = len(self.clock.processes)
        self.pool.startService()
        return self.clock.processes[before:]

    def ready_pool(self, warm=2, first_port=9000, **kwargs):
        """A started pool whose warm children all reported a port (``first_port`` upwards)."""
        children = self.start_pool(warm, **kwargs)
        for n, child in enumerate(children):
            child.out(b"Port: %d\n" % (first_port + n))
        self.assertEqual(self.pool.warm_ready, len(children))
        return children

    def assert_no_leak(self):
        """stop_all reaches every child still running (none is forgotten) and leaves no timer."""
        d = self.stop_all()
        for process in self.clock.live_processes():
            self.assertIn("TERM", process.signals)
            process.exit(signal=15)
        self.assertIsNone(self.successResultOf(d))
        self.assert_no_timers()

    def test_nothing_before_start(self):
        """A pool of N spawns nothing until it starts; a pool of 0 started does nothing."""
        self.launcher = self.make_launcher(warm=2)
        self.assertEqual((self.clock.processes, self.pool.warm_ready), ([], 0))
        self.launcher = self.make_launcher()
        self.pool.startService()
        self.assertEqual(self.clock.processes, [])
        self.assert_no_timers()

    def test_warm_children_spawned_at_start(self):
        """Starting the pool spawns N children that get the config line only, and each counts as ready after its port."""
        children = self.start_pool(warm=2)
        self.assertEqual(len(children), 2)
        for child in children:
            self.assertEqual(child.args, ["/usr/bin/python3", "-m", "rpsa.matches.child"])
            self.assertEqual(child.childFDs, {0: "w", 1: "r", 2: "r"})
            self.assertEqual(child.stdin_lines(), [CONFIG])
        self.assertEqual(self.pool.warm_ready, 0)
        children[0].out(b"Port: 9000\n")
        self.assertEqual(self.pool.warm_ready, 1)
        children[1].out(b"Port: 9001\n")
        self.assertEqual(self.pool.warm_ready, 2)
        self.pool.startService()
        self.assertEqual(len(self.clock.processes), 2)

    def test_warm_children_are_not_matches(self):
        """Warm children appear in neither list() nor get(), and call no hook."""
        self.ready_pool(warm=2)
        self.assertEqual(self.launcher.list(), [])
        self.assertEqual((self.ready, self.ended), ([], []))

    def test_launch_uses_ready_warm_child(self):
        """launch gives the match to a ready warm child and fires at once with its port and pid."""
        child, _ = self.ready_pool(warm=2, first_port=9005)
        results, spawned = self.launch()
        self.assertIsNone(spawned)
        [record] = results
        self.assertEqual((record.state, record.port, record.pid), ("waiting", 9005, child.pid))
        self.assertEqual(child.stdin_lines(), [CONFIG, match_request()])
        self.assertIs(self.launcher.get("m1"), record)
        self.assertEqual(self.ready, [record])
        self.assertEqual(self.pool.warm_ready, 1)
        self.assertEqual([call.getTime() for call in self.clock.getDelayedCalls()], [0])  # the refill only
        for token in (TOKEN_A, TOKEN_B):
            self.assertNotIn(token, " ".join([child.executable, *child.args]))

    def test_used_warm_child_replaced(self):
        """A used warm child is replaced on the next reactor turn, by a child with the config line only."""
        self.ready_pool(warm=1)
        self.launch()
        self.assertEqual(len(self.clock.processes), 1)
        self.clock.advance(0)
        self.assertEqual(len(self.clock.processes), 2)
        self.assertEqual(self.clock.processes[1].stdin_lines(), [CONFIG])
        self.assertEqual(self.pool.warm_ready, 0)
        self.clock.processes[1].out(b"Port: 9001\n")
        self.assertEqual(self.pool.warm_ready, 1)

    def test_ready_children_used_in_order(self):
        """Warm children are used in the order they became ready."""
        first, second = self.start_pool(warm=2)
        second.out(b"Port: 9001\n")
        first.out(b"Port: 9000\n")
        [one], _ = self.launch(match_request("m1"))
        [two], _ = self.launch(match_request("m2"))
        self.assertEqual((one.pid, one.port, two.pid, two.port), (second.pid, 9001, first.pid, 9000))

    def test_warm_match_runs_like_any_match(self):
        """A match on a warm child gets status and result lines, ends, and frees its slot."""
        child, = self.ready_pool(warm=1)
        [record], _ = self.launch()
        child.out(b'Status: {"state": "playing", "players": [{"user_id": "u1", "connected": true}]}\n')
        self.assertEqual((record.state, record.players[0]["connected"]), ("playing", True))
        child.out(b'Result: {"winner": "u1", "loser": "u2", "round_wins": {"u1": 2, "u2": 0}}\n')
        self.assertEqual(self.ended, [record])
        child.exit(0)
        self.assertEqual((record.state, record.exit_code), ("ended", 0))
        self.assertEqual(self.launcher.list(), [record])
        self.assertEqual(child.closed, [])

    def test_warm_match_stop(self):
        """Stopping a match on a warm child sends TERM to that child and ends it as stopped."""
        child, = self.ready_pool(warm=1)
        [record], _ = self.launch()
        results = []
        self.launcher.stop("m1").addBoth(results.append)
        self.assertEqual(child.signals, ["TERM"])
        child.exit(signal=15)
        self.assertEqual(results, [record])
        self.assertEqual((record.state, record.reason), ("ended", "stopped"))

    def test_tokens_never_logged(self):
        """No log event of a warm child, from spawn to the end of its match, mentions a token."""
        events = self.log_events()
        child, = self.ready_pool(warm=1)
        self.launch()
        child.out(b'Result: {"reason": "abandoned"}\n')
        child.exit(1)
        self.assert_no_tokens(events)

    def test_cold_launch_when_none_ready(self):
        """With no warm child ready, launch spawns a new child and waits for its port; the warm one is untouched."""
        warm, = self.start_pool(warm=1)
        results, cold = self.launch()
        self.assertIsNotNone(cold)
        self.assertIsNot(cold, warm)
        self.assertEqual(cold.stdin_lines(), [CONFIG, match_request()])
        self.assertEqual(warm.stdin_lines(), [CONFIG])
        self.assertEqual(results, [])
        warm.out(b"Port: 9000\n")
        self.assertEqual(results, [])
        cold.out(b"Port: 9001\n")
        self.assertEqual((results[0].port, results[0].pid), (9001, cold.pid))
        self.assertEqual(self.pool.warm_ready, 1)

    def test_pool_capped_by_max_matches(self):
        """Warming never goes beyond max_matches children."""
        children = self.start_pool(warm=5, max_matches=3)
        self.assertEqual(len(children), 3)

    def test_warm_plus_live_within_max_matches(self):
        """Matches and warm children together stay within max_matches; an ended match lets the pool refill."""
        first, _ = self.ready_pool(warm=2, max_matches=3)
        self.launch(match_request("m1"))
        self.clock.advance(0)
        self.assertEqual(len(self.clock.live_processes()), 3)
        self.clock.processes[2].out(b"Port: 9002\n")
        self.launch(match_request("m2"))
        self.clock.advance(0)
        self.assertEqual(len(self.clock.live_processes()), 3)
        self.assertEqual(self.pool.warm_ready, 1)
        first.exit(1)
        self.assertEqual(len(self.clock.live_processes()), 3)
        self.assertEqual(self.clock.processes[-1].stdin_lines(), [CONFIG])
        self.assert_no_leak()

    def test_full_with_ready_warm_child(self):
        """At max_matches, a ready warm child still takes a launch; with none left the launch is refused."""
        self.ready_pool(warm=1, max_matches=1)
        [record], _ = self.launch(match_request("m1"))
        self.clock.advance(0)
        self.assertEqual(len(self.clock.processes), 1)
        results, spawned = self.launch(match_request("m2"))
        self.assertEqual(self.launch_error(results).code, "too_many_matches")
        self.assertIsNone(spawned)

    def test_full_uses_starting_warm_child(self):
        """At max_matches with a warm child still starting, launch hands it the match and waits for its port."""
        warm, = self.start_pool(warm=1, max_matches=1)
        results, spawned = self.launch()
        self.assertIsNone(spawned)
        self.assertEqual(warm.stdin_lines(), [CONFIG, match_request()])
        self.assertEqual(results, [])
        warm.out(b"Port: 9003\n")
        self.assertEqual((results[0].port, results[0].pid), (9003, warm.pid))
        self.assertEqual(self.pool.warm_ready, 0)

    def test_full_starting_warm_child_launch_timeout(self):
        """A starting warm child that took a match is subject to the launch timeout from then on."""
        warm, = self.start_pool(warm=1, max_matches=1)
        self.clock.advance(9)
        results, _ = self.launch()
        self.clock.advance(9.9)
        self.assertEqual(results, [])
        self.clock.advance(0.1)
        self.assertEqual(self.launch_error(results).code, "launch_timeout")
        self.assertEqual(warm.signals, ["TERM"])

    def test_error_before_port_replaced_with_backoff(self):
        """A warm child reporting an error is stopped, never ready, and replaced after a doubling delay."""
        self.start_pool(warm=1)
        delays = []
        for _ in range(8):
            child = self.clock.processes[-1]
            child.out(b"Error: no_free_port: no free port in 9000-9099\n")
            self.assertEqual((child.signals, self.pool.warm_ready), (["TERM"], 0))
            child.exit(1)
            spawned = len(self.clock.processes)
            waited = 0.0
            for _ in range(100):
                if len(self.clock.processes) > spawned:
                    break
                self.clock.advance(0.5)
                waited += 0.5
            delays.append(waited)
        self.assertEqual(delays, [WARM_RETRY_MIN, 2.0, 4.0, 8.0, 16.0, WARM_RETRY_MAX, WARM_RETRY_MAX, WARM_RETRY_MAX])
        self.assertEqual(self.launcher.list(), [])
        self.assert_no_leak()

    def test_success_resets_backoff(self):
        """A warm child that reports its port resets the replacement delay."""
        self.start_pool(warm=1)
        for _ in range(3):
            self.clock.processes[-1].out(b"Error: no_free_port: none\n")
            self.clock.processes[-1].exit(1)
            self.clock.advance(WARM_RETRY_MAX)
        child = self.clock.processes[-1]
        child.out(b"Port: 9000\n")
        child.exit(1)
        spawned = len(self.clock.processes)
        self.clock.advance(WARM_RETRY_MIN)
        self.assertEqual(len(self.clock.processes), spawned + 1)

    def test_exit_before_port_replaced(self):
        """A warm child that exits before its port is replaced after the delay, not at once."""
        child, = self.start_pool(warm=1)
        child.exit(1)
        self.assertEqual((self.pool.warm_ready, len(self.clock.processes)), (0, 1))
        self.clock.advance(WARM_RETRY_MIN)
        self.assertEqual(len(self.clock.processes), 2)

    def test_death_after_port_replaced(self):
        """A ready warm child that dies is no longer ready and is replaced after the delay; no match sees it."""
        child, = self.ready_pool(warm=1)
        child.exit(signal=9)
        self.assertEqual(self.pool.warm_ready, 0)
        results, cold = self.launch()
        self.assertIsNotNone(cold)
        self.assertEqual(results, [])
        self.clock.advance(WARM_RETRY_MIN)
        self.assertEqual(len(self.clock.processes), 3)
        self.assertEqual(self.clock.processes[-1].stdin_lines(), [CONFIG])
        self.assertEqual((self.ready, self.ended), ([], []))
        self.assert_no_leak()

    def test_no_port_in_time(self):
        """A warm child without a port after launch_timeout is stopped (TERM, then KILL) and replaced."""
        child, = self.start_pool(warm=1)
        self.clock.advance(10)
        self.assertEqual(child.signals, ["TERM"])
        self.clock.advance(WARM_RETRY_MIN)
        self.assertEqual(len(self.clock.processes), 2)
        self.clock.advance(4)
        self.assertEqual(child.signals, ["TERM", "KILL"])
        child.out(b"Port: 9000\n")
        self.assertEqual(self.pool.warm_ready, 0)
        self.assert_no_leak()

    def test_failed_warm_child_counts_until_it_ends(self):
        """A failed warm child keeps its slot of max_matches until it has ended, takes no match, then is replaced."""
        child, = self.start_pool(warm=1, max_matches=1)
        child.out(b"Error: no_free_port: none\n")
        results, spawned = self.launch()
        self.assertEqual(self.launch_error(results).code, "too_many_matches")
        self.assertIsNone(spawned)
        self.clock.advance(WARM_RETRY_MIN)
        self.assertEqual(len(self.clock.processes), 1)
        child.exit(1)
        self.assertEqual(len(self.clock.processes), 2)
        self.assertEqual(self.clock.processes[1].stdin_lines(), [CONFIG])
        results, spawned = self.launch()
        self.assertIsNone(spawned)
        self.clock.processes[1].out(b"Port: 9001\n")
        self.assertEqual((results[0].port, results[0].pid), (9001, self.clock.processes[1].pid))
        self.assert_no_leak()

    def test_cold_launch_while_failed_warm_child_dies(self):
        """Below max_matches, a launch does not use a failed warm child: it spawns a new one."""
        child, = self.start_pool(warm=1)
        child.out(b"Error: no_free_port: none\n")
        results, cold = self.launch()
        self.assertEqual(cold.stdin_lines(), [CONFIG, match_request()])
        self.assertEqual(child.stdin_lines(), [CONFIG])
        self.assert_no_leak()

    def test_spawn_failure_retried(self):
        """A warm child that cannot be spawned is logged and retried after the delay."""
        self.clock.spawn_exception = OSError("no such file")
        self.start_pool(warm=1)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.clock.spawn_exception = None
        self.assertEqual(self.clock.processes, [])
        self.clock.advance(WARM_RETRY_MIN)
        self.assertEqual(len(self.clock.processes), 1)

    def test_stop_all_stops_warm_children(self):
        """Stopping stops ready and starting warm children (TERM, then KILL) and replaces none."""
        ready, starting = self.start_pool(warm=2)
        ready.out(b"Port: 9000\n")
        d = self.stop_all()
        self.assertEqual((ready.signals, starting.signals), (["TERM"], ["TERM"]))
        self.assertEqual(self.pool.warm_ready, 0)
        ready.exit(signal=15)
        self.clock.advance(5)
        self.assertEqual(starting.signals, ["TERM", "KILL"])
        self.assertNoResult(d)
        starting.exit(signal=9)
        self.assertIsNone(self.successResultOf(d))
        self.clock.advance(WARM_RETRY_MAX)
        self.assertEqual(len(self.clock.processes), 2)
        self.assert_no_timers()

    def test_stop_all_with_matches_and_pool(self):
        """Stopping the pool and the launcher stops matches on warm children, pending replacements and the pool, within 2 * kill_grace."""
        self.ready_pool(warm=2)
        self.launch()
        d = self.stop_all()
        self.clock.advance(0)
        self.assertEqual(len(self.clock.processes), 2)
        for process in self.clock.processes:
            self.assertEqual(process.signals, ["TERM"])
        self.clock.advance(10)
        self.assertIsNone(self.successResultOf(d))
        self.assert_no_timers()
        self.pool.startService()
        self.assertEqual(len(self.clock.processes), 2)

    def test_stop_all_during_backoff(self):
        """Stopping cancels a pending replacement."""
        child, = self.start_pool(warm=1)
        child.exit(1)
        self.successResultOf(self.stop_all())
        self.assert_no_timers()


class RealWarmPoolTests(TestCase):
    """A launcher with one warm ``rpsa.matches.child`` child on real ports."""

    if not platform.isLinux():
        skip = "needs /proc to check that children are gone"

    timeout = 120

    def setUp(self):
        self.low, self.high = free_port_range(2)
        config = GameSettings(tick=0.02, join_timeout=30).to_json()
        config.update(ports=[self.low, self.high], interface="127.0.0.1")
        children = MatchChildren(reactor, config, launch_timeout=30, kill_grace=2, python=sys.executable, env=child_env())
        self.pool = WarmPool(children, size=1)
        self.launcher = MatchLauncher(children, self.pool)
        self.addCleanup(self.stop_all)

    def stop_all(self):
        """Stop the warm pool, then the launcher, as the daemon does."""
        return defer.gatherResults([self.pool.stopService(), self.launcher.stopService()])

    @defer.inlineCallbacks
    def wait_for(self, condition, what, attempts=400):
        """Poll ``condition`` every POLL seconds, at most ``attempts`` times; fail with ``what`` if it stays false."""
        for _ in range(attempts):
            if condition():
                return
            yield sleep(POLL)
        self.fail(f"gave up waiting for {what}")

    @defer.inlineCallbacks
    def test_launch_on_warm_child(self):
        """A launch goes to the ready warm child, which a player reaches with its token; stopping leaves no child."""
        self.pool.startService()
        yield self.wait_for(lambda: self.pool.warm_ready == 1, "a ready warm child")
        warm = self.pool._ready[0].process

        d = self.launcher.launch(real_match_request("warm-1"))
        self.assertTrue(d.called, "a launch on a ready warm child fires at once")
        record = yield d
        self.assertEqual((record.pid, record.port, record.state), (warm.pid, warm.port, "waiting"))
        self.assertTrue(self.low <= record.port <= self.high)
        self.assertEqual(self.launcher.list(), [record])

        client = yield connect(reactor, f"ws://127.0.0.1:{record.port}/ws?token={REAL_TOKEN_A}")
        welcome = yield client.wait_for(of_type("welcome"))
        self.assertEqual((welcome["role"], welcome["userId"]), ("player", "ann"))
        yield self.wait_for(lambda: record.players[0]["connected"], "the child's Status line with ann connected")
        self.assertEqual([p["connected"] for p in record.players], [True, False])

        yield self.wait_for(lambda: self.pool.warm_ready == 1, "the replacement warm child")
        replacement = self.pool._ready[0].process
        self.assertNotIn(replacement.port, (None, record.port))
        self.assertTrue(self.low <= replacement.port <= self.high)

        yield self.stop_all()
        pids = [record.pid, replacement.pid]
        yield self.wait_for(lambda: all(process_gone(pid) for pid in pids), f"children {pids} to be gone", attempts=100)
        self.assertEqual((record.state, record.reason), ("ended", "stopped"))
        self.assertEqual(self.pool.warm_ready, 0)
        yield client.closed.addTimeout(10, reactor)
