"""Tests for rpsa.matches.launcher and rpsa.matches.process: match children, driven by a fake process reactor.

The fake reactor is in the style of ``twisted.runner.test.test_procmon``: its
``spawnProcess`` records the call and returns a :class:`FakeProcess` through
which a test plays the child (its stdout, stderr and exit).  The warm pool
(``MatchLauncher(warm=N)``) is tested here on the same fakes; a few tests at
the end run real child processes (and ``tests.matches.test_warmpool`` runs the real
``rpsa.matches.child`` child in the warm pool).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import weakref

from zope.interface import implementer

from twisted.internet import reactor as global_reactor
from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.interfaces import IProcessTransport
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.python.runtime import platform
from twisted.trial.unittest import SynchronousTestCase, TestCase

from rpsa.matches.process import MAX_LINE, MAX_MESSAGE, MAX_STDERR_LINES, LineBuffer, parse_line
from rpsa.matches.launcher import WARM_RETRY_MAX, WARM_RETRY_MIN, LaunchError, MatchLauncher

CONFIG = {
    "ports": [9000, 9099],
    "interface": "127.0.0.1",
    "tick": 1.0,
    "reconnect_grace": 10,
    "join_timeout": 60,
    "max_message_bytes": 4096,
    "max_messages_per_second": 20,
    "max_spectators": 100,
}
TOKEN_A = "secret-token-of-alice"
TOKEN_B = "secret-token-of-bob"


def match_request(match_id="m1", rounds=3):
    """A launch request for a match between alice (u1) and bob (u2)."""
    return {
        "match_id": match_id,
        "rounds": rounds,
        "players": [
            {"user_id": "u1", "username": "alice", "token": TOKEN_A},
            {"user_id": "u2", "username": "bob", "token": TOKEN_B},
        ],
    }


@implementer(IProcessTransport)
class FakeProcess:
    """A fake process transport: records writes and signals; the test plays the child through it."""

    def __init__(self, proto, executable, args, env, childFDs, pid):
        self.proto = proto
        self.executable = executable
        self.args = args
        self.env = env
        self.childFDs = childFDs
        self.pid = pid
        self.written = bytearray()
        self.signals = []
        self.closed = []

    # IProcessTransport, as far as the launcher uses it

    def write(self, data):
        self.written += data

    def writeToChild(self, childFD, data):
        assert childFD == 0
        self.written += data

    def closeStdin(self):
        self.closed.append(0)

    def closeChildFD(self, childFD):
        self.closed.append(childFD)

    def loseConnection(self):
        self.closed.append("all")

    def signalProcess(self, signalID):
        if self.pid is None:
            raise ProcessExitedAlready()
        self.signals.append(signalID)

    # the child's side

    def out(self, data):
        """The child writes ``data`` to stdout."""
        self.proto.childDataReceived(1, data)

    def err(self, data):
        """The child writes ``data`` to stderr."""
        self.proto.childDataReceived(2, data)

    def exit(self, code=0, signal=None):
        """The child ends (and is reaped) with exit ``code`` or ``signal``."""
        self.pid = None
        proto, self.proto = self.proto, None
        if code == 0 and signal is None:
            reason = ProcessDone(0)
        else:
            reason = ProcessTerminated(None if signal else code, signal)
        proto.processEnded(Failure(reason))

    def stdin_lines(self):
        """The JSON lines written to the child's stdin."""
        return [json.loads(line) for line in bytes(self.written).splitlines()]

    @property
    def running(self):
        """Whether the child has not ended yet."""
        return self.proto is not None


class FakeProcessReactor(MemoryReactorClock):
    """A reactor clock whose ``spawnProcess`` makes :class:`FakeProcess` objects."""

    def __init__(self):
        super().__init__()
        self.processes = []
        self.spawnException = None

    def spawnProcess(
        self, processProtocol, executable, args=(), env=None, path=None, uid=None, gid=None, usePTY=False, childFDs=None
    ):
        if self.spawnException is not None:
            raise self.spawnException
        process = FakeProcess(processProtocol, executable, list(args), env, childFDs, pid=1000 + len(self.processes))
        processProtocol.makeConnection(process)
        self.processes.append(process)
        return process

    def liveProcesses(self):
        """The spawned processes that have not ended, oldest first."""
        return [process for process in self.processes if process.running]


class LauncherTestCase(SynchronousTestCase):
    """Common fixture: a launcher on a fake process reactor, with recorded hooks."""

    def setUp(self):
        self.clock = FakeProcessReactor()
        self.ready = []
        self.ended = []
        self.launcher = self.makeLauncher()

    def makeLauncher(self, **kwargs):
        """A launcher on ``self.clock`` whose hooks append to ``self.ready`` and ``self.ended``."""
        options = dict(
            launch_timeout=10.0,
            kill_grace=5.0,
            python="/usr/bin/python3",
            on_ready=self.ready.append,
            on_ended=self.ended.append,
        )
        options.update(kwargs)
        return MatchLauncher(self.clock, CONFIG, **options)

    def launch(self, request=None):
        """Launch ``request``; return (results list, the FakeProcess or None)."""
        results = []
        spawned = len(self.clock.processes)
        self.launcher.launch(request or match_request()).addBoth(results.append)
        process = self.clock.processes[-1] if len(self.clock.processes) > spawned else None
        return results, process

    def launchReady(self, request=None, port=9000):
        """Launch ``request`` and have its child report ``port``; return (record, FakeProcess)."""
        results, process = self.launch(request)
        process.out(b"Port: %d\n" % port)
        self.assertEqual(len(results), 1)
        return results[0], process

    def launchError(self, results):
        """The LaunchError that the single launch result in ``results`` failed with."""
        self.assertEqual(len(results), 1)
        self.assertIsInstance(results[0], Failure)
        return results[0].trap(LaunchError) and results[0].value

    def assertNoTimers(self):
        """No delayed call is left on the clock."""
        self.assertEqual(self.clock.getDelayedCalls(), [])


class SpawnTests(LauncherTestCase):
    """How a child is spawned and what it is told."""

    def test_argv_and_child_fds(self):
        """The child runs ``python -m rpsa.matches.child`` with stdin writable and stdout/stderr readable."""
        _, process = self.launch()
        self.assertEqual(process.executable, "/usr/bin/python3")
        self.assertEqual(process.args, ["/usr/bin/python3", "-m", "rpsa.matches.child"])
        self.assertEqual(process.childFDs, {0: "w", 1: "r", 2: "r"})

    def test_env_is_explicit_copy(self):
        """The child gets an explicit copy of os.environ, not None (which would mean an empty env)."""
        _, process = self.launch()
        self.assertEqual(process.env, dict(os.environ))
        self.assertIsNot(process.env, os.environ)

    def test_env_override(self):
        """An ``env`` given to the launcher is what the child gets."""
        self.launcher = self.makeLauncher(env={"PATH": "/bin", "X": "1"})
        _, process = self.launch()
        self.assertEqual(process.env, {"PATH": "/bin", "X": "1"})

    def test_stdin_lines(self):
        """The config line and then the match line are written to stdin at once."""
        _, process = self.launch()
        self.assertEqual(process.stdin_lines(), [CONFIG, match_request()])
        self.assertTrue(process.written.endswith(b"\n"))

    def test_stdin_never_closed(self):
        """The launcher never closes the child's stdin, through a whole match."""
        record, process = self.launchReady()
        process.out(b'Result: {"winner": "u1", "loser": "u2", "round_wins": {"u1": 2, "u2": 0}}\n')
        process.exit(0)
        self.assertEqual(process.closed, [])

    def test_tokens_not_in_argv(self):
        """No token appears in the child's argv or executable."""
        _, process = self.launch()
        for token in (TOKEN_A, TOKEN_B):
            self.assertNotIn(token, " ".join([process.executable, *process.args]))

    def test_tokens_never_logged(self):
        """No log event of a whole match lifecycle mentions a token."""
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        record, process = self.launchReady()
        process.out(b'Status: {"state": "playing", "players": []}\nnoise\n')
        process.err(b"some warning\n")
        process.exit(1)
        self.assertTrue(events)
        for event in events:
            text = formatEvent(event) + repr(event)
            self.assertNotIn(TOKEN_A, text)
            self.assertNotIn(TOKEN_B, text)

    def test_spawn_failure(self):
        """spawnProcess raising fails the launch with spawn_failed, leaving no record."""
        self.clock.spawnException = OSError("no such file")
        results, _ = self.launch()
        error = self.launchError(results)
        self.assertEqual((error.code, error.status), ("spawn_failed", 503))
        self.assertIsNone(self.launcher.get("m1"))
        self.assertNoTimers()
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)

    def test_invalid_match(self):
        """A request without players fails with invalid_match (400) before spawning."""
        results, process = self.launch({"match_id": "m1"})
        error = self.launchError(results)
        self.assertEqual((error.code, error.status), ("invalid_match", 400))
        self.assertIsNone(process)

    def test_max_matches(self):
        """At max_matches children, a launch fails with too_many_matches (503) without spawning."""
        self.launcher = self.makeLauncher(max_matches=2)
        self.launch(match_request("m1"))
        self.launch(match_request("m2"))
        results, process = self.launch(match_request("m3"))
        error = self.launchError(results)
        self.assertEqual((error.code, error.status), ("too_many_matches", 503))
        self.assertIsNone(process)
        self.assertEqual(len(self.clock.processes), 2)


class PortLineTests(LauncherTestCase):
    """The launch completes on the child's port line, however it arrives."""

    def test_port_byte_by_byte(self):
        """A port line split into single bytes completes the launch only at its newline."""
        results, process = self.launch()
        line = b"Port: 9042\n"
        for i in range(len(line) - 1):
            process.out(line[i : i + 1])
        self.assertEqual(results, [])
        process.out(line[-1:])
        [record] = results
        self.assertEqual((record.state, record.port, record.pid), ("waiting", 9042, process.pid))
        self.assertEqual(self.ready, [record])
        self.assertNoTimers()

    def test_noise_before_port(self):
        """Noise lines, several in one read, are ignored before the port line."""
        results, process = self.launch()
        process.out(b"starting up\nStatus: not json\nPort: 9001")
        self.assertEqual(results, [])
        process.out(b"\nmore noise\n")
        self.assertEqual(results[0].port, 9001)

    def test_overlong_line_dropped(self):
        """A partial line longer than the cap is dropped, and the next line still parses."""
        results, process = self.launch()
        chunk = b"x" * 8192
        for _ in range(MAX_LINE // len(chunk) + 2):
            process.out(chunk)
        process.out(b"Port: 9000\n")
        self.assertEqual(results, [])
        process.out(b"Port: 9001\n")
        self.assertEqual(results[0].port, 9001)

    def test_stderr_logging_bounded(self):
        """stderr lines are logged truncated, at most MAX_STDERR_LINES of them, and the rest counted."""
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        results, process = self.launch()
        process.err(b"".join(b"line %d\n" % i for i in range(MAX_STDERR_LINES + 50)))
        process.err(b"x" * 5000 + b"\n")
        process.exit(1)
        logged = [e["line"] for e in events if "stderr: {line}" in e.get("log_format", "")]
        self.assertEqual(len(logged), MAX_STDERR_LINES)
        [summary] = [e for e in events if "more stderr lines" in e.get("log_format", "")]
        self.assertEqual(summary["count"], 51)
        self.assertIn("x" * MAX_MESSAGE, self.launchError(results).message)
        self.assertLess(len(self.launchError(results).message), MAX_MESSAGE + 100)

    def test_stderr_does_not_count(self):
        """A port line on stderr is not a port line."""
        results, process = self.launch()
        process.err(b"Port: 9000\n")
        self.assertEqual(results, [])

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
        error = self.launchError(results)
        self.assertEqual((error.code, error.status), ("match_exists", 409))
        self.assertIsNone(process)


class LaunchFailureTests(LauncherTestCase):
    """Launches that fail leave a failed record in the recent list and nothing else."""

    def assertRetired(self, reason):
        """m1 is failed with ``reason``, not live, and no timer is left."""
        record = self.launcher.get("m1")
        self.assertEqual((record.state, record.reason), ("failed", reason))
        self.assertNotIn("m1", self.launcher._live)
        self.assertNoTimers()

    def test_error_with_code(self):
        """``Error: code: message`` fails the launch with that code and message (503)."""
        results, process = self.launch()
        process.out(b"Error: no_free_port: no free port in 9000-9099\n")
        error = self.launchError(results)
        self.assertEqual((error.code, error.message, error.status), ("no_free_port", "no free port in 9000-9099", 503))
        self.assertEqual(process.signals, ["TERM"])
        process.exit(1)
        self.assertRetired("no_free_port")
        self.assertEqual(self.launcher.get("m1").exit_code, 1)
        self.assertEqual((self.ready, self.ended), ([], []))

    def test_error_without_code(self):
        """``Error: message`` fails the launch with code child_error."""
        results, process = self.launch()
        process.out(b"Error: Address already in use: port 9000\n")
        error = self.launchError(results)
        self.assertEqual(
            (error.code, error.message, error.status), ("child_error", "Address already in use: port 9000", 503)
        )

    def test_exit_before_port(self):
        """A child that exits before its port line fails the launch with child_exited and its last stderr line."""
        results, process = self.launch()
        process.err(b"Traceback (most recent call last):\nModuleNotFoundError: No module named 'rpsa.matches.child'\n")
        process.exit(1)
        error = self.launchError(results)
        self.assertEqual((error.code, error.status), ("child_exited", 503))
        self.assertIn("exit code 1", error.message)
        self.assertIn("No module named 'rpsa.matches.child'", error.message)
        self.assertEqual(process.signals, [])
        self.assertRetired("child_exited")

    def test_killed_before_port(self):
        """A child killed by a signal before its port line reports the signal."""
        results, process = self.launch()
        process.exit(signal=9)
        error = self.launchError(results)
        self.assertIn("signal 9", error.message)
        self.assertEqual(self.launcher.get("m1").exit_code, -9)

    def test_launch_timeout_term_then_kill(self):
        """No port line within launch_timeout: 504, SIGTERM, then SIGKILL after kill_grace."""
        results, process = self.launch()
        self.clock.advance(9.9)
        self.assertEqual((results, process.signals), ([], []))
        self.clock.advance(0.1)
        error = self.launchError(results)
        self.assertEqual((error.code, error.status), ("launch_timeout", 504))
        self.assertEqual(process.signals, ["TERM"])
        self.clock.advance(4.9)
        self.assertEqual(process.signals, ["TERM"])
        self.clock.advance(0.1)
        self.assertEqual(process.signals, ["TERM", "KILL"])
        process.exit(signal=9)
        self.assertRetired("launch_timeout")
        self.assertEqual(self.launcher.get("m1").exit_code, -9)

    def test_launch_timeout_dies_on_term(self):
        """A child that dies on SIGTERM is not sent SIGKILL."""
        results, process = self.launch()
        self.clock.advance(10)
        process.exit(signal=15)
        self.clock.advance(60)
        self.assertEqual(process.signals, ["TERM"])
        self.assertRetired("launch_timeout")

    def test_port_after_timeout_ignored(self):
        """A port line that arrives after the timeout does not revive the launch."""
        results, process = self.launch()
        self.clock.advance(10)
        process.out(b"Port: 9000\n")
        self.assertEqual(self.launcher.get("m1").state, "failed")
        self.assertEqual(self.ready, [])
        process.exit(signal=15)
        self.assertNoTimers()

    def test_dying_child_counts_towards_max(self):
        """A timed-out child that has not died yet still takes a slot of max_matches."""
        self.launcher = self.makeLauncher(max_matches=1)
        _, process = self.launch(match_request("m1"))
        self.clock.advance(10)
        results, _ = self.launch(match_request("m2"))
        self.assertEqual(self.launchError(results).code, "too_many_matches")
        process.exit(signal=15)
        results, _ = self.launch(match_request("m2"))
        self.assertEqual(results, [])


class RunningMatchTests(LauncherTestCase):
    """Status and result lines, and the end of a match."""

    def test_status_lines(self):
        """Status lines update the state and the players' connections."""
        record, process = self.launchReady()
        self.assertEqual(record.players, [{"user_id": "u1", "connected": False}, {"user_id": "u2", "connected": False}])
        process.out(b'Status: {"state": "waiting", "players": [{"user_id": "u1", "connected": true}]}\n')
        self.assertEqual((record.state, record.players[0]["connected"]), ("waiting", True))
        players = [{"user_id": user_id, "connected": True} for user_id in ("u1", "u2", "intruder")]
        process.out(b"Status: " + json.dumps({"state": "playing", "players": players}).encode() + b"\n")
        self.assertEqual(record.state, "playing")
        self.assertEqual(record.players, [{"user_id": "u1", "connected": True}, {"user_id": "u2", "connected": True}])

    def test_result_line(self):
        """A Result line ends the match at once; the child's exit then retires the record."""
        record, process = self.launchReady()
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
        self.assertNoTimers()

    def test_abandoned_result(self):
        """``Result: {"reason": "abandoned"}`` ends the match with that reason and no result."""
        record, process = self.launchReady()
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
        record, process = self.launchReady()
        process.out(b'Status: {"state": "playing", "players": []}\n')
        process.exit(0)
        self.assertEqual((record.state, record.reason, record.exit_code), ("failed", "child_exited", 0))
        self.assertEqual(self.ended, [record])
        self.assertNoTimers()

    def test_lingering_child_stopped(self):
        """A child still running result_grace after its result is sent SIGTERM."""
        self.launcher = self.makeLauncher(result_grace=30.0)
        record, process = self.launchReady()
        process.out(b'Result: {"reason": "abandoned"}\n')
        self.clock.advance(29)
        self.assertEqual(process.signals, [])
        self.clock.advance(1)
        self.assertEqual(process.signals, ["TERM"])
        process.exit(signal=15)
        self.assertEqual((record.state, record.reason, record.exit_code), ("ended", "abandoned", -15))
        self.assertNoTimers()

    def test_hook_failure_logged(self):
        """A hook that raises is logged and does not disturb the launch."""

        def broken(record):
            raise ZeroDivisionError()

        self.launcher = self.makeLauncher(on_ready=broken)
        record, process = self.launchReady()
        self.assertEqual(record.state, "waiting")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_to_json(self):
        """to_json gives exactly the public keys, omitting unset optional ones."""
        record, process = self.launchReady()
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
        self.launcher = self.makeLauncher(keep_ended=2)
        for i in range(4):
            _, process = self.launch(match_request(f"m{i}"))
            process.exit(1)
        self.launch(match_request("live"))
        self.assertEqual([r.match_id for r in self.launcher.list()], ["live", "m3", "m2"])
        self.assertIsNone(self.launcher.get("m0"))

    def test_relaunch_after_end(self):
        """A match id that has ended can be launched again, replacing its old record."""
        record, process = self.launchReady()
        process.exit(0)
        again, _ = self.launchReady(port=9001)
        self.assertIsNot(again, record)
        self.assertIs(self.launcher.get("m1"), again)
        self.assertEqual([r.match_id for r in self.launcher.list()], ["m1"])

    def test_no_cycle_keeps_child_alive(self):
        """Once a child has ended, nothing but the launcher's record refers to its protocol objects."""
        record, process = self.launchReady()
        ref = weakref.ref(self.launcher._live["m1"].process)
        process.exit(0)
        gc.disable()
        self.addCleanup(gc.enable)
        del process
        self.clock.processes.clear()
        self.assertIsNone(ref())


class StopTests(LauncherTestCase):
    """Stopping one match, and all of them."""

    def test_stop_term_then_kill(self):
        """stop sends SIGTERM, SIGKILL after kill_grace, and fires with the record once the child ended."""
        record, process = self.launchReady()
        results = []
        self.launcher.stop("m1").addBoth(results.append)
        self.assertEqual(process.signals, ["TERM"])
        self.clock.advance(5)
        self.assertEqual((process.signals, results), (["TERM", "KILL"], []))
        process.exit(signal=9)
        self.assertEqual(results, [record])
        self.assertEqual((record.state, record.reason, record.exit_code), ("ended", "stopped", -9))
        self.assertEqual(self.ended, [record])
        self.assertNoTimers()

    def test_stop_dies_on_term(self):
        """A child that dies on SIGTERM is not sent SIGKILL by stop."""
        record, process = self.launchReady()
        results = []
        self.launcher.stop("m1").addBoth(results.append)
        process.exit(signal=15)
        self.assertEqual(results, [record])
        self.assertEqual(process.signals, ["TERM"])
        self.assertNoTimers()

    def test_stop_before_port(self):
        """Stopping a starting match fails its launch with match_stopped."""
        results, process = self.launch()
        self.launcher.stop("m1")
        error = self.launchError(results)
        self.assertEqual((error.code, error.status), ("match_stopped", 503))
        process.exit(signal=15)
        record = self.launcher.get("m1")
        self.assertEqual((record.state, record.reason), ("ended", "stopped"))
        self.assertNoTimers()

    def test_stop_unknown(self):
        """Stopping an unknown match fires with None."""
        self.assertIsNone(self.successResultOf(self.launcher.stop("nope")))

    def test_stop_ended(self):
        """Stopping an ended match fires with its record and sends nothing."""
        record, process = self.launchReady()
        process.exit(0)
        self.assertIs(self.successResultOf(self.launcher.stop("m1")), record)
        self.assertEqual(process.signals, [])

    def test_stop_survivor_bounded(self):
        """stop gives up on a child that survives SIGKILL after 2 * kill_grace."""
        record, process = self.launchReady()
        d = self.launcher.stop("m1")
        self.clock.advance(5)
        self.assertNoResult(d)
        self.clock.advance(5)
        self.assertIs(self.successResultOf(d), record)
        self.assertNoTimers()

    def test_stop_all(self):
        """stopAll stops every child, starting or running, and fires within 2 * kill_grace even if one never dies."""
        _, polite = self.launchReady(match_request("m1"))
        _, stubborn = self.launchReady(match_request("m2"), port=9001)
        starting, starter = self.launch(match_request("m3"))
        d = self.launcher.stopAll()
        for process in (polite, stubborn, starter):
            self.assertEqual(process.signals, ["TERM"])
        self.assertEqual(self.launchError(starting).code, "match_stopped")
        polite.exit(signal=15)
        starter.exit(0)
        self.clock.advance(5)
        self.assertEqual(stubborn.signals, ["TERM", "KILL"])
        self.assertEqual(polite.signals, ["TERM"])
        self.assertNoResult(d)
        self.clock.advance(5)
        self.assertIsNone(self.successResultOf(d))
        self.assertNoTimers()

    def test_stop_all_includes_failed_launches(self):
        """stopAll also waits for a child whose launch failed and which is still dying."""
        _, process = self.launch()
        self.clock.advance(10)
        d = self.launcher.stopAll()
        self.assertNoResult(d)
        process.exit(signal=15)
        self.assertIsNone(self.successResultOf(d))
        self.assertNoTimers()

    def test_stop_all_refuses_launches(self):
        """After stopAll, launch fails with shutting_down (503) without spawning."""
        self.launcher.stopAll()
        results, process = self.launch()
        self.assertEqual(self.launchError(results).code, "shutting_down")
        self.assertIsNone(process)

    def test_stop_all_nothing_running(self):
        """stopAll with no children fires at once."""
        self.assertIsNone(self.successResultOf(self.launcher.stopAll()))


class WarmPoolTests(LauncherTestCase):
    """The warm pool: children spawned ahead of time with a port, waiting for their match."""

    def startPool(self, warm=2, **kwargs):
        """Replace the launcher by one with ``warm`` warm children and start warming; return its spawns."""
        self.launcher = self.makeLauncher(warm=warm, **kwargs)
        before = len(self.clock.processes)
        self.launcher.startWarming()
        return self.clock.processes[before:]

    def readyPool(self, warm=2, first_port=9000, **kwargs):
        """A started pool whose warm children all reported a port (``first_port`` upwards)."""
        children = self.startPool(warm, **kwargs)
        for n, child in enumerate(children):
            child.out(b"Port: %d\n" % (first_port + n))
        self.assertEqual(self.launcher.warm_ready, len(children))
        return children

    def assertNoLeak(self):
        """stopAll reaches every child still running (none is forgotten) and leaves no timer."""
        d = self.launcher.stopAll()
        for process in self.clock.liveProcesses():
            self.assertIn("TERM", process.signals)
            process.exit(signal=15)
        self.assertIsNone(self.successResultOf(d))
        self.assertNoTimers()

    def test_nothing_before_start(self):
        """A launcher with warm=N spawns nothing until startWarming; with warm=0, startWarming does nothing."""
        self.launcher = self.makeLauncher(warm=2)
        self.assertEqual((self.clock.processes, self.launcher.warm_ready), ([], 0))
        self.launcher = self.makeLauncher()
        self.launcher.startWarming()
        self.assertEqual(self.clock.processes, [])
        self.assertNoTimers()

    def test_warm_children_spawned_at_start(self):
        """startWarming spawns N children that get the config line only, and each counts as ready after its port."""
        children = self.startPool(warm=2)
        self.assertEqual(len(children), 2)
        for child in children:
            self.assertEqual(child.args, ["/usr/bin/python3", "-m", "rpsa.matches.child"])
            self.assertEqual(child.childFDs, {0: "w", 1: "r", 2: "r"})
            self.assertEqual(child.stdin_lines(), [CONFIG])
        self.assertEqual(self.launcher.warm_ready, 0)
        children[0].out(b"Port: 9000\n")
        self.assertEqual(self.launcher.warm_ready, 1)
        children[1].out(b"Port: 9001\n")
        self.assertEqual(self.launcher.warm_ready, 2)
        self.launcher.startWarming()
        self.assertEqual(len(self.clock.processes), 2)

    def test_warm_children_are_not_matches(self):
        """Warm children appear in neither list() nor get(), and call no hook."""
        self.readyPool(warm=2)
        self.assertEqual(self.launcher.list(), [])
        self.assertEqual((self.ready, self.ended), ([], []))

    def test_launch_uses_ready_warm_child(self):
        """launch gives the match to a ready warm child and fires at once with its port and pid."""
        child, _ = self.readyPool(warm=2, first_port=9005)
        results, spawned = self.launch()
        self.assertIsNone(spawned)
        [record] = results
        self.assertEqual((record.state, record.port, record.pid), ("waiting", 9005, child.pid))
        self.assertEqual(child.stdin_lines(), [CONFIG, match_request()])
        self.assertIs(self.launcher.get("m1"), record)
        self.assertEqual(self.ready, [record])
        self.assertEqual(self.launcher.warm_ready, 1)
        self.assertEqual([call.getTime() for call in self.clock.getDelayedCalls()], [0])  # the refill only
        for token in (TOKEN_A, TOKEN_B):
            self.assertNotIn(token, " ".join([child.executable, *child.args]))

    def test_used_warm_child_replaced(self):
        """A used warm child is replaced on the next reactor turn, by a child with the config line only."""
        self.readyPool(warm=1)
        self.launch()
        self.assertEqual(len(self.clock.processes), 1)
        self.clock.advance(0)
        self.assertEqual(len(self.clock.processes), 2)
        self.assertEqual(self.clock.processes[1].stdin_lines(), [CONFIG])
        self.assertEqual(self.launcher.warm_ready, 0)
        self.clock.processes[1].out(b"Port: 9001\n")
        self.assertEqual(self.launcher.warm_ready, 1)

    def test_ready_children_used_in_order(self):
        """Warm children are used in the order they became ready."""
        first, second = self.startPool(warm=2)
        second.out(b"Port: 9001\n")
        first.out(b"Port: 9000\n")
        [one], _ = self.launch(match_request("m1"))
        [two], _ = self.launch(match_request("m2"))
        self.assertEqual((one.pid, one.port, two.pid, two.port), (second.pid, 9001, first.pid, 9000))

    def test_warm_match_runs_like_any_match(self):
        """A match on a warm child gets status and result lines, ends, and frees its slot."""
        child, = self.readyPool(warm=1)
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
        child, = self.readyPool(warm=1)
        [record], _ = self.launch()
        results = []
        self.launcher.stop("m1").addBoth(results.append)
        self.assertEqual(child.signals, ["TERM"])
        child.exit(signal=15)
        self.assertEqual(results, [record])
        self.assertEqual((record.state, record.reason), ("ended", "stopped"))

    def test_tokens_never_logged(self):
        """No log event of a warm child, from spawn to the end of its match, mentions a token."""
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        child, = self.readyPool(warm=1)
        self.launch()
        child.out(b'Result: {"reason": "abandoned"}\n')
        child.exit(1)
        self.assertTrue(events)
        for event in events:
            text = formatEvent(event) + repr(event)
            self.assertNotIn(TOKEN_A, text)
            self.assertNotIn(TOKEN_B, text)

    def test_cold_launch_when_none_ready(self):
        """With no warm child ready, launch spawns a new child and waits for its port; the warm one is untouched."""
        warm, = self.startPool(warm=1)
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
        self.assertEqual(self.launcher.warm_ready, 1)

    def test_pool_capped_by_max_matches(self):
        """Warming never goes beyond max_matches children."""
        children = self.startPool(warm=5, max_matches=3)
        self.assertEqual(len(children), 3)

    def test_warm_plus_live_within_max_matches(self):
        """Matches and warm children together stay within max_matches; an ended match lets the pool refill."""
        first, _ = self.readyPool(warm=2, max_matches=3)
        self.launch(match_request("m1"))
        self.clock.advance(0)
        self.assertEqual(len(self.clock.liveProcesses()), 3)
        self.clock.processes[2].out(b"Port: 9002\n")
        self.launch(match_request("m2"))
        self.clock.advance(0)
        self.assertEqual(len(self.clock.liveProcesses()), 3)
        self.assertEqual(self.launcher.warm_ready, 1)
        first.exit(1)
        self.assertEqual(len(self.clock.liveProcesses()), 3)
        self.assertEqual(self.clock.processes[-1].stdin_lines(), [CONFIG])
        self.assertNoLeak()

    def test_full_with_ready_warm_child(self):
        """At max_matches, a ready warm child still takes a launch; with none left the launch is refused."""
        self.readyPool(warm=1, max_matches=1)
        [record], _ = self.launch(match_request("m1"))
        self.clock.advance(0)
        self.assertEqual(len(self.clock.processes), 1)
        results, spawned = self.launch(match_request("m2"))
        self.assertEqual(self.launchError(results).code, "too_many_matches")
        self.assertIsNone(spawned)

    def test_full_uses_starting_warm_child(self):
        """At max_matches with a warm child still starting, launch hands it the match and waits for its port."""
        warm, = self.startPool(warm=1, max_matches=1)
        results, spawned = self.launch()
        self.assertIsNone(spawned)
        self.assertEqual(warm.stdin_lines(), [CONFIG, match_request()])
        self.assertEqual(results, [])
        warm.out(b"Port: 9003\n")
        self.assertEqual((results[0].port, results[0].pid), (9003, warm.pid))
        self.assertEqual(self.launcher.warm_ready, 0)

    def test_full_starting_warm_child_launch_timeout(self):
        """A starting warm child that took a match is subject to the launch timeout from then on."""
        warm, = self.startPool(warm=1, max_matches=1)
        self.clock.advance(9)
        results, _ = self.launch()
        self.clock.advance(9.9)
        self.assertEqual(results, [])
        self.clock.advance(0.1)
        self.assertEqual(self.launchError(results).code, "launch_timeout")
        self.assertEqual(warm.signals, ["TERM"])

    def test_error_before_port_replaced_with_backoff(self):
        """A warm child reporting an error is stopped, never ready, and replaced after a doubling delay."""
        self.startPool(warm=1)
        delays = []
        for _ in range(8):
            child = self.clock.processes[-1]
            child.out(b"Error: no_free_port: no free port in 9000-9099\n")
            self.assertEqual((child.signals, self.launcher.warm_ready), (["TERM"], 0))
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
        self.assertNoLeak()

    def test_success_resets_backoff(self):
        """A warm child that reports its port resets the replacement delay."""
        self.startPool(warm=1)
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
        child, = self.startPool(warm=1)
        child.exit(1)
        self.assertEqual((self.launcher.warm_ready, len(self.clock.processes)), (0, 1))
        self.clock.advance(WARM_RETRY_MIN)
        self.assertEqual(len(self.clock.processes), 2)

    def test_death_after_port_replaced(self):
        """A ready warm child that dies is no longer ready and is replaced after the delay; no match sees it."""
        child, = self.readyPool(warm=1)
        child.exit(signal=9)
        self.assertEqual(self.launcher.warm_ready, 0)
        results, cold = self.launch()
        self.assertIsNotNone(cold)
        self.assertEqual(results, [])
        self.clock.advance(WARM_RETRY_MIN)
        self.assertEqual(len(self.clock.processes), 3)
        self.assertEqual(self.clock.processes[-1].stdin_lines(), [CONFIG])
        self.assertEqual((self.ready, self.ended), ([], []))
        self.assertNoLeak()

    def test_no_port_in_time(self):
        """A warm child without a port after launch_timeout is stopped (TERM, then KILL) and replaced."""
        child, = self.startPool(warm=1)
        self.clock.advance(10)
        self.assertEqual(child.signals, ["TERM"])
        self.clock.advance(WARM_RETRY_MIN)
        self.assertEqual(len(self.clock.processes), 2)
        self.clock.advance(4)
        self.assertEqual(child.signals, ["TERM", "KILL"])
        child.out(b"Port: 9000\n")
        self.assertEqual(self.launcher.warm_ready, 0)
        self.assertNoLeak()

    def test_failed_warm_child_counts_until_it_ends(self):
        """A failed warm child keeps its slot of max_matches until it has ended, takes no match, then is replaced."""
        child, = self.startPool(warm=1, max_matches=1)
        child.out(b"Error: no_free_port: none\n")
        results, spawned = self.launch()
        self.assertEqual(self.launchError(results).code, "too_many_matches")
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
        self.assertNoLeak()

    def test_cold_launch_while_failed_warm_child_dies(self):
        """Below max_matches, a launch does not use a failed warm child: it spawns a new one."""
        child, = self.startPool(warm=1)
        child.out(b"Error: no_free_port: none\n")
        results, cold = self.launch()
        self.assertEqual(cold.stdin_lines(), [CONFIG, match_request()])
        self.assertEqual(child.stdin_lines(), [CONFIG])
        self.assertNoLeak()

    def test_spawn_failure_retried(self):
        """A warm child that cannot be spawned is logged and retried after the delay."""
        self.clock.spawnException = OSError("no such file")
        self.startPool(warm=1)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.clock.spawnException = None
        self.assertEqual(self.clock.processes, [])
        self.clock.advance(WARM_RETRY_MIN)
        self.assertEqual(len(self.clock.processes), 1)

    def test_stop_all_stops_warm_children(self):
        """stopAll stops ready and starting warm children (TERM, then KILL) and replaces none."""
        ready, starting = self.startPool(warm=2)
        ready.out(b"Port: 9000\n")
        d = self.launcher.stopAll()
        self.assertEqual((ready.signals, starting.signals), (["TERM"], ["TERM"]))
        self.assertEqual(self.launcher.warm_ready, 0)
        ready.exit(signal=15)
        self.clock.advance(5)
        self.assertEqual(starting.signals, ["TERM", "KILL"])
        self.assertNoResult(d)
        starting.exit(signal=9)
        self.assertIsNone(self.successResultOf(d))
        self.clock.advance(WARM_RETRY_MAX)
        self.assertEqual(len(self.clock.processes), 2)
        self.assertNoTimers()

    def test_stop_all_with_matches_and_pool(self):
        """stopAll stops matches on warm children, pending replacements and the pool, within 2 * kill_grace."""
        self.readyPool(warm=2)
        self.launch()
        d = self.launcher.stopAll()
        self.clock.advance(0)
        self.assertEqual(len(self.clock.processes), 2)
        for process in self.clock.processes:
            self.assertEqual(process.signals, ["TERM"])
        self.clock.advance(10)
        self.assertIsNone(self.successResultOf(d))
        self.assertNoTimers()
        self.launcher.startWarming()
        self.assertEqual(len(self.clock.processes), 2)

    def test_stop_all_during_backoff(self):
        """stopAll cancels a pending replacement."""
        child, = self.startPool(warm=1)
        child.exit(1)
        self.successResultOf(self.launcher.stopAll())
        self.assertNoTimers()


class ParsingTests(SynchronousTestCase):
    """The child's stdout lines and the line buffer."""

    def test_parse_lines(self):
        """Each kind of line is recognised; anything else is noise."""
        self.assertEqual(parse_line(b"Port: 9000\n"), ("port", 9000))
        self.assertEqual(parse_line(b'Status: {"state": "waiting"}'), ("status", {"state": "waiting"}))
        self.assertEqual(parse_line(b'Result: {"reason": "abandoned"}'), ("result", {"reason": "abandoned"}))
        self.assertEqual(parse_line(b"Status: [1]")[0], "malformed")
        self.assertEqual(parse_line(b"Ports: 9000")[0], "noise")
        self.assertEqual(parse_line(b"port: 9000")[0], "noise")

    def test_parse_errors(self):
        """Error lines give a code (child_error by default) and a message; a bad port is an error."""
        kind, error = parse_line(b"Error: no_free_port: none left\n")
        self.assertEqual((kind, error.code, error.message), ("error", "no_free_port", "none left"))
        kind, error = parse_line(b"Error: it broke\n")
        self.assertEqual((error.code, error.message), ("child_error", "it broke"))
        kind, error = parse_line(b"Port: 70000\n")
        self.assertEqual((kind, error.code), ("error", "bad_port"))

    def test_line_buffer(self):
        """Lines split anyhow come out whole; an overlong one comes out as None, once."""
        buffer = LineBuffer(10)
        self.assertEqual(buffer.feed(b"ab"), [])
        self.assertEqual(buffer.feed(b"c\nde\nf"), [b"abc", b"de"])
        self.assertEqual(buffer.feed(b"0123456789"), [None])
        self.assertEqual(buffer.feed(b"more"), [])
        self.assertEqual(buffer.feed(b"\nok\n" + b"y" * 11 + b"\nlast"), [b"ok", None])
        self.assertEqual(buffer.close(), [b"last"])
        self.assertEqual(buffer.close(), [])


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

    def makeLauncher(self, mode):
        """A launcher on the global reactor running the fake child in ``mode``."""
        script = self.mktemp()
        with open(script, "w") as f:
            f.write(FAKE_CHILD.format(python=sys.executable))
        os.chmod(script, 0o755)
        env = dict(os.environ, FAKE_CHILD_MODE=mode)
        self.ended = []
        return MatchLauncher(
            global_reactor, CONFIG, launch_timeout=60, kill_grace=0.5, python=script, env=env, on_ended=self.ended.append
        )

    async def test_match_plays_to_the_end(self):
        """A real child gets both lines, reports port, status and result, and is reaped with exit code 0."""
        launcher = self.makeLauncher("play")
        self.addCleanup(launcher.stopAll)
        record = await launcher.launch(match_request())
        self.assertEqual(record.port, 9000)
        status = await launcher._live["m1"].process.whenEnded()
        self.assertEqual(status.code, 0)
        self.assertEqual(record.result["winner"], "u1")
        self.assertEqual((record.state, record.exit_code), ("ended", 0))
        self.assertEqual(self.ended, [record])

    async def test_stubborn_child_killed(self):
        """A real child that ignores SIGTERM (and whose stdin stays open) is killed by stop with SIGKILL."""
        launcher = self.makeLauncher("stubborn")
        self.addCleanup(launcher.stopAll)
        record = await launcher.launch(match_request())
        await launcher.stop("m1")
        self.assertEqual((record.state, record.reason, record.exit_code), ("ended", "stopped", -9))
