"""Tests for rpsa.matches.launcher: launching, running and stopping matches on the fake process reactor.

A few tests at the end run real child processes (a fake child script stands
in for ``rpsa.matches.child``; ``tests.matches.test_warmpool`` runs the real one).
"""

from __future__ import annotations

import json
import os
import sys

from twisted.internet import reactor as global_reactor
from twisted.python.runtime import platform
from twisted.trial.unittest import TestCase

from rpsa.matches.launcher import MatchLauncher, MatchObserver
from rpsa.matches.children import MatchChildren
from tests.matches.fakes import CONFIG, LauncherTestCase, RecordingObserver, match_request


class SpawnTests(LauncherTestCase):
    """How a launch starts a child, or refuses to."""

    def test_tokens_never_logged(self):
        """No log event of a whole match lifecycle mentions a token."""
        events = self.log_events()
        record, process = self.launch_ready()
        process.out(b'Status: {"state": "playing", "players": []}\nnoise\n')
        process.err(b"some warning\n")
        process.exit(1)
        self.assert_no_tokens(events)

    def test_spawn_failure(self):
        """spawnProcess raising fails the launch with spawn_failed, leaving no record."""
        self.clock.spawn_exception = OSError("no such file")
        results, _ = self.launch()
        error = self.launch_error(results)
        self.assertEqual((error.code, error.status), ("spawn_failed", 503))
        self.assertIsNone(self.launcher.get("m1"))
        self.assert_no_timers()
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)

    def test_invalid_match(self):
        """A request without players fails with invalid_match (400) before spawning."""
        results, process = self.launch({"match_id": "m1"})
        error = self.launch_error(results)
        self.assertEqual((error.code, error.status), ("invalid_match", 400))
        self.assertIsNone(process)

    def test_max_matches(self):
        """At max_matches children, a launch fails with too_many_matches (503) without spawning."""
        self.launcher = self.make_launcher(max_matches=2)
        self.launch(match_request("m1"))
        self.launch(match_request("m2"))
        results, process = self.launch(match_request("m3"))
        error = self.launch_error(results)
        self.assertEqual((error.code, error.status), ("too_many_matches", 503))
        self.assertIsNone(process)
        self.assertEqual(len(self.clock.processes), 2)


class PortLineTests(LauncherTestCase):
    """The launch completes on the child's port line."""

    def test_cancel_does_not_stop_launch(self):
        """Cancelling the Deferred from launch only detaches that caller."""
        d = self.launcher.launch(match_request())
        d.cancel()
        self.failureResultOf(d)
        process = self.clock.processes[0]
        process.out(b"Port: 9000\n")
        self.assertEqual(self.launcher.get("m1").state, "waiting")
        self.assertEqual(process.signals, [])

    def test_same_request_while_live(self):
        """Launching a live match again with the same request gives the same record without spawning."""
        first, _ = self.launch()
        second, _ = self.launch()
        self.assertEqual(second, [])
        self.clock.processes[0].out(b"Port: 9000\n")
        self.assertIs(first[0], second[0])
        third, _ = self.launch()
        self.assertIs(third[0], first[0])
        self.assertEqual(len(self.clock.processes), 1)

    def test_other_request_conflicts(self):
        """Launching a live match id with a different request fails with match_exists (409)."""
        self.launch()
        results, process = self.launch(match_request(rounds=5))
        error = self.launch_error(results)
        self.assertEqual((error.code, error.status), ("match_exists", 409))
        self.assertIsNone(process)


class LaunchFailureTests(LauncherTestCase):
    """Launches that fail leave a failed record in the recent list and nothing else."""

    def assert_retired(self, reason):
        """m1 is failed with ``reason``, not live, and no timer is left."""
        record = self.launcher.get("m1")
        self.assertEqual((record.state, record.reason), ("failed", reason))
        self.assertNotIn("m1", self.launcher._live)
        self.assert_no_timers()

    def test_error_with_code(self):
        """``Error: code: message`` fails the launch with that code and message (503)."""
        results, process = self.launch()
        process.out(b"Error: no_free_port: no free port in 9000-9099\n")
        error = self.launch_error(results)
        self.assertEqual((error.code, error.message, error.status), ("no_free_port", "no free port in 9000-9099", 503))
        self.assertEqual(process.signals, ["TERM"])
        process.exit(1)
        self.assert_retired("no_free_port")
        self.assertEqual(self.launcher.get("m1").exit_code, 1)
        self.assertEqual((self.ready, self.ended), ([], []))

    def test_error_without_code(self):
        """``Error: message`` fails the launch with code child_error."""
        results, process = self.launch()
        process.out(b"Error: Address already in use: port 9000\n")
        error = self.launch_error(results)
        self.assertEqual(
            (error.code, error.message, error.status), ("child_error", "Address already in use: port 9000", 503)
        )

    def test_exit_before_port(self):
        """A child that exits before its port line fails the launch with child_exited and its last stderr line."""
        results, process = self.launch()
        process.err(b"Traceback (most recent call last):\nModuleNotFoundError: No module named 'rpsa.matches.child'\n")
        process.exit(1)
        error = self.launch_error(results)
        self.assertEqual((error.code, error.status), ("child_exited", 503))
        self.assertIn("exit code 1", error.message)
        self.assertIn("No module named 'rpsa.matches.child'", error.message)
        self.assertEqual(process.signals, [])
        self.assert_retired("child_exited")

    def test_killed_before_port(self):
        """A child killed by a signal before its port line reports the signal."""
        results, process = self.launch()
        process.exit(signal=9)
        error = self.launch_error(results)
        self.assertIn("signal 9", error.message)
        self.assertEqual(self.launcher.get("m1").exit_code, -9)

    def test_launch_timeout_term_then_kill(self):
        """No port line within launch_timeout: 504, SIGTERM, then SIGKILL after kill_grace."""
        results, process = self.launch()
        self.clock.advance(9.9)
        self.assertEqual((results, process.signals), ([], []))
        self.clock.advance(0.1)
        error = self.launch_error(results)
        self.assertEqual((error.code, error.status), ("launch_timeout", 504))
        self.assertEqual(process.signals, ["TERM"])
        self.clock.advance(4.9)
        self.assertEqual(process.signals, ["TERM"])
        self.clock.advance(0.1)
        self.assertEqual(process.signals, ["TERM", "KILL"])
        process.exit(signal=9)
        self.assert_retired("launch_timeout")
        self.assertEqual(self.launcher.get("m1").exit_code, -9)

    def test_launch_timeout_dies_on_term(self):
        """A child that dies on SIGTERM is not sent SIGKILL."""
        results, process = self.launch()
        self.clock.advance(10)
        process.exit(signal=15)
        self.clock.advance(60)
        self.assertEqual(process.signals, ["TERM"])
        self.assert_retired("launch_timeout")

    def test_port_after_timeout_ignored(self):
        """A port line that arrives after the timeout does not revive the launch."""
        results, process = self.launch()
        self.clock.advance(10)
        process.out(b"Port: 9000\n")
        self.assertEqual(self.launcher.get("m1").state, "failed")
        self.assertEqual(self.ready, [])
        process.exit(signal=15)
        self.assert_no_timers()

    def test_dying_child_counts_towards_max(self):
        """A timed-out child that has not died yet still takes a slot of max_matches."""
        self.launcher = self.make_launcher(max_matches=1)
        _, process = self.launch(match_request("m1"))
        self.clock.advance(10)
        results, _ = self.launch(match_request("m2"))
        self.assertEqual(self.launch_error(results).code, "too_many_matches")
        process.exit(signal=15)
        results, _ = self.launch(match_request("m2"))
        self.assertEqual(results, [])


class RunningMatchTests(LauncherTestCase):
    """Status and result lines, and the end of a match."""

    def test_status_lines(self):
        """Status lines update the state and the players' connections."""
        record, process = self.launch_ready()
        self.assertEqual(record.players, [{"user_id": "u1", "connected": False}, {"user_id": "u2", "connected": False}])
        process.out(b'Status: {"state": "waiting", "players": [{"user_id": "u1", "connected": true}]}\n')
        self.assertEqual((record.state, record.players[0]["connected"]), ("waiting", True))
        players = [{"user_id": user_id, "connected": True} for user_id in ("u1", "u2", "intruder")]
        process.out(b"Status: " + json.dumps({"state": "playing", "players": players}).encode() + b"\n")
        self.assertEqual(record.state, "playing")
        self.assertEqual(record.players, [{"user_id": "u1", "connected": True}, {"user_id": "u2", "connected": True}])

    def test_result_line(self):
        """A Result line ends the match at once; the child's exit then retires the record."""
        record, process = self.launch_ready()
        process.out(b'Result: {"winner": "u1", "loser": "u2", "round_wins": {"u1": 2, "u2": 1}}\n')
        self.assertEqual(record.state, "ended")
        self.assertEqual(record.result, {"winner": "u1", "loser": "u2", "round_wins": {"u1": 2, "u2": 1}})
        self.assertEqual(self.ended, [record])
        self.assertIn("m1", self.launcher._live)
        process.exit(0)
        self.assertEqual((record.state, record.exit_code), ("ended", 0))
        self.assertNotIn("m1", self.launcher._live)
        self.assertIs(self.launcher.get("m1"), record)
        self.assertEqual(self.ended, [record])
        self.assert_no_timers()

    def test_abandoned_result(self):
        """``Result: {"reason": "abandoned"}`` ends the match with that reason and no result."""
        record, process = self.launch_ready()
        pid = process.pid
        process.out(b'Result: {"reason": "abandoned"}\n')
        process.exit(0)
        self.assertEqual(
            record.to_json(),
            {
                "match_id": "m1",
                "state": "ended",
                "port": 9000,
                "pid": pid,
                "players": [{"user_id": "u1", "connected": False}, {"user_id": "u2", "connected": False}],
                "reason": "abandoned",
                "exit_code": 0,
            },
        )

    def test_exit_without_result(self):
        """A child that exits after its port without a result fails the match with child_exited."""
        record, process = self.launch_ready()
        process.out(b'Status: {"state": "playing", "players": []}\n')
        process.exit(0)
        self.assertEqual((record.state, record.reason, record.exit_code), ("failed", "child_exited", 0))
        self.assertEqual(self.ended, [record])
        self.assert_no_timers()

    def test_lingering_child_stopped(self):
        """A child still running result_grace after its result is sent SIGTERM."""
        self.launcher = self.make_launcher(result_grace=30.0)
        record, process = self.launch_ready()
        process.out(b'Result: {"reason": "abandoned"}\n')
        self.clock.advance(29)
        self.assertEqual(process.signals, [])
        self.clock.advance(1)
        self.assertEqual(process.signals, ["TERM"])
        process.exit(signal=15)
        self.assertEqual((record.state, record.reason, record.exit_code), ("ended", "abandoned", -15))
        self.assert_no_timers()

    def test_hook_failure_logged(self):
        """A hook that raises is logged and does not disturb the launch."""

        class Broken(MatchObserver):
            def match_ready(self, record):
                raise ZeroDivisionError()

        self.launcher = self.make_launcher(observers=(Broken(),))
        record, process = self.launch_ready()
        self.assertEqual(record.state, "waiting")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_to_json(self):
        """to_json gives exactly the public keys, omitting unset optional ones."""
        record, process = self.launch_ready()
        self.assertEqual(
            record.to_json(),
            {
                "match_id": "m1",
                "state": "waiting",
                "port": 9000,
                "pid": process.pid,
                "players": [{"user_id": "u1", "connected": False}, {"user_id": "u2", "connected": False}],
            },
        )
        self.assertEqual(record.request, match_request())

    def test_list_and_keep_ended(self):
        """list() gives live matches then recent ones, newest first, at most keep_ended of them."""
        self.launcher = self.make_launcher(keep_ended=2)
        for i in range(4):
            _, process = self.launch(match_request(f"m{i}"))
            process.exit(1)
        self.launch(match_request("live"))
        self.assertEqual([r.match_id for r in self.launcher.list()], ["live", "m3", "m2"])
        self.assertIsNone(self.launcher.get("m0"))

    def test_relaunch_after_end(self):
        """A match id that has ended can be launched again, replacing its old record."""
        record, process = self.launch_ready()
        process.exit(0)
        again, _ = self.launch_ready(port=9001)
        self.assertIsNot(again, record)
        self.assertIs(self.launcher.get("m1"), again)
        self.assertEqual([r.match_id for r in self.launcher.list()], ["m1"])


class StopTests(LauncherTestCase):
    """Stopping one match, and all of them."""

    def test_stop_term_then_kill(self):
        """stop sends SIGTERM, SIGKILL after kill_grace, and fires with the record once the child ended."""
        record, process = self.launch_ready()
        results = []
        self.launcher.stop("m1").addBoth(results.append)
        self.assertEqual(process.signals, ["TERM"])
        self.clock.advance(5)
        self.assertEqual((process.signals, results), (["TERM", "KILL"], []))
        process.exit(signal=9)
        self.assertEqual(results, [record])
        self.assertEqual((record.state, record.reason, record.exit_code), ("ended", "stopped", -9))
        self.assertEqual(self.ended, [record])
        self.assert_no_timers()

    def test_stop_dies_on_term(self):
        """A child that dies on SIGTERM is not sent SIGKILL by stop."""
        record, process = self.launch_ready()
        results = []
        self.launcher.stop("m1").addBoth(results.append)
        process.exit(signal=15)
        self.assertEqual(results, [record])
        self.assertEqual(process.signals, ["TERM"])
        self.assert_no_timers()

    def test_stop_before_port(self):
        """Stopping a starting match fails its launch with match_stopped."""
        results, process = self.launch()
        self.launcher.stop("m1")
        error = self.launch_error(results)
        self.assertEqual((error.code, error.status), ("match_stopped", 503))
        process.exit(signal=15)
        record = self.launcher.get("m1")
        self.assertEqual((record.state, record.reason), ("ended", "stopped"))
        self.assert_no_timers()

    def test_stop_unknown(self):
        """Stopping an unknown match fires with None."""
        self.assertIsNone(self.successResultOf(self.launcher.stop("nope")))

    def test_stop_ended(self):
        """Stopping an ended match fires with its record and sends nothing."""
        record, process = self.launch_ready()
        process.exit(0)
        self.assertIs(self.successResultOf(self.launcher.stop("m1")), record)
        self.assertEqual(process.signals, [])

    def test_stop_survivor_bounded(self):
        """stop gives up on a child that survives SIGKILL after 2 * kill_grace."""
        record, process = self.launch_ready()
        d = self.launcher.stop("m1")
        self.clock.advance(5)
        self.assertNoResult(d)
        self.clock.advance(5)
        self.assertIs(self.successResultOf(d), record)
        self.assert_no_timers()

    def test_stop_service(self):
        """stopService stops every child, starting or running, and fires within 2 * kill_grace even if one never dies."""
        _, polite = self.launch_ready(match_request("m1"))
        _, stubborn = self.launch_ready(match_request("m2"), port=9001)
        starting, starter = self.launch(match_request("m3"))
        d = self.launcher.stopService()
        for process in (polite, stubborn, starter):
            self.assertEqual(process.signals, ["TERM"])
        self.assertEqual(self.launch_error(starting).code, "match_stopped")
        polite.exit(signal=15)
        starter.exit(0)
        self.clock.advance(5)
        self.assertEqual(stubborn.signals, ["TERM", "KILL"])
        self.assertEqual(polite.signals, ["TERM"])
        self.assertNoResult(d)
        self.clock.advance(5)
        self.assertIsNone(self.successResultOf(d))
        self.assert_no_timers()

    def test_stop_service_includes_failed_launches(self):
        """stopService also waits for a child whose launch failed and which is still dying."""
        _, process = self.launch()
        self.clock.advance(10)
        d = self.launcher.stopService()
        self.assertNoResult(d)
        process.exit(signal=15)
        self.assertIsNone(self.successResultOf(d))
        self.assert_no_timers()

    def test_stop_service_refuses_launches(self):
        """After stopService, launch fails with shutting_down (503) without spawning."""
        self.launcher.stopService()
        results, process = self.launch()
        self.assertEqual(self.launch_error(results).code, "shutting_down")
        self.assertIsNone(process)

    def test_stop_service_nothing_running(self):
        """stopService with no children fires at once."""
        self.assertIsNone(self.successResultOf(self.launcher.stopService()))


FAKE_CHILD = """\
#!{python}
# A stand-in for ``python -m rpsa.matches.child``; FAKE_CHILD_MODE picks its behaviour.
import json, os, signal, sys

config = json.loads(sys.stdin.readline())
mode = os.environ["FAKE_CHILD_MODE"]
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("Port:", config["ports"][0], flush=True)
match = json.loads(sys.stdin.readline())
if mode == "play":
    players = [{{"user_id": p["user_id"], "connected": True}} for p in match["players"]]
    print("Status:", json.dumps({{"state": "playing", "players": players}}), flush=True)
    winner, loser = players[0]["user_id"], players[1]["user_id"]
    print("Result:", json.dumps({{"winner": winner, "loser": loser, "round_wins": {{}}}}), flush=True)
    sys.exit(0)
sys.stdin.read()  # until EOF, which never comes while the daemon lives
"""


class RealChildTests(TestCase):
    """The launcher with real child processes on the real reactor (a fake child script stands in for rpsa.matches.child)."""

    if not platform.isLinux() and not platform.isMacOSX():
        skip = "needs POSIX processes and signals"

    def make_launcher(self, mode):
        """A launcher on the global reactor running the fake child in ``mode``."""
        script = self.mktemp()
        with open(script, "w") as f:
            f.write(FAKE_CHILD.format(python=sys.executable))
        os.chmod(script, 0o755)
        env = dict(os.environ, FAKE_CHILD_MODE=mode)
        self.ended = []
        children = MatchChildren(global_reactor, CONFIG, launch_timeout=60, kill_grace=0.5, python=script, env=env)
        return MatchLauncher(children, observers=(RecordingObserver([], self.ended),))

    async def test_match_plays_to_the_end(self):
        """A real child gets both lines, reports port, status and result, and is reaped with exit code 0."""
        launcher = self.make_launcher("play")
        self.addCleanup(launcher.stopService)
        record = await launcher.launch(match_request())
        self.assertEqual(record.port, 9000)
        status = await launcher._live["m1"].process.when_ended()
        self.assertEqual(status.code, 0)
        self.assertEqual(record.result["winner"], "u1")
        self.assertEqual((record.state, record.exit_code), ("ended", 0))
        self.assertEqual(self.ended, [record])

    async def test_stubborn_child_killed(self):
        """A real child that ignores SIGTERM (and whose stdin stays open) is killed by stop with SIGKILL."""
        launcher = self.make_launcher("stubborn")
        self.addCleanup(launcher.stopService)
        record = await launcher.launch(match_request())
        await launcher.stop("m1")
        self.assertEqual((record.state, record.reason, record.exit_code), ("ended", "stopped", -9))
