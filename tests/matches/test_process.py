"""Tests for rpsa.matches.process: spawning a match child, reading its streams, counting and stopping it.

Driven through the launcher on the fake process reactor of ``tests.matches.fakes``.
"""

from __future__ import annotations

import gc
import os
import weakref


from rpsa.matches.launcher import MatchLauncher
from rpsa.matches.process import MAX_STDERR_LINES, MatchChildren, MatchProcess
from rpsa.matches.warmpool import WarmPool
from tests.play.fakes import recording_events
from rpsa.matches.stdio import MAX_LINE, MAX_MESSAGE
from tests.matches.fakes import CONFIG, TOKEN_A, TOKEN_B, LauncherTestCase, match_request


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
        self.launcher = self.make_launcher(env={"PATH": "/bin", "X": "1"})
        _, process = self.launch()
        self.assertEqual(process.env, {"PATH": "/bin", "X": "1"})

    def test_stdin_lines(self):
        """The config line and then the match line are written to stdin at once."""
        _, process = self.launch()
        self.assertEqual(process.stdin_lines(), [CONFIG, match_request()])
        self.assertTrue(process.written.endswith(b"\n"))

    def test_stdin_never_closed(self):
        """The launcher never closes the child's stdin, through a whole match."""
        record, process = self.launch_ready()
        process.out(b'Result: {"winner": "u1", "loser": "u2", "round_wins": {"u1": 2, "u2": 0}}\n')
        process.exit(0)
        self.assertEqual(process.closed, [])

    def test_tokens_not_in_argv(self):
        """No token appears in the child's argv or executable."""
        _, process = self.launch()
        for token in (TOKEN_A, TOKEN_B):
            self.assertNotIn(token, " ".join([process.executable, *process.args]))


class StreamTests(LauncherTestCase):
    """The child's stdout and stderr, however they arrive."""

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
        self.assert_no_timers()

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
        events = self.log_events()
        results, process = self.launch()
        process.err(b"".join(b"line %d\n" % i for i in range(MAX_STDERR_LINES + 50)))
        process.err(b"x" * 5000 + b"\n")
        process.exit(1)
        logged = [e["line"] for e in events if "stderr: {line}" in e.get("log_format", "")]
        self.assertEqual(len(logged), MAX_STDERR_LINES)
        [summary] = [e for e in events if "more stderr lines" in e.get("log_format", "")]
        self.assertEqual(summary["count"], 51)
        self.assertIn("x" * MAX_MESSAGE, self.launch_error(results).message)
        self.assertLess(len(self.launch_error(results).message), MAX_MESSAGE + 100)

    def test_stderr_does_not_count(self):
        """A port line on stderr is not a port line."""
        results, process = self.launch()
        process.err(b"Port: 9000\n")
        self.assertEqual(results, [])

    def test_no_cycle_keeps_child_alive(self):
        """Once a child has ended, nothing but the launcher's record refers to its protocol objects."""
        record, process = self.launch_ready()
        ref = weakref.ref(self.launcher._live["m1"].process)
        process.exit(0)
        gc.disable()
        self.addCleanup(gc.enable)
        del process
        self.clock.processes.clear()
        self.assertIsNone(ref())


class MatchChildrenTests(LauncherTestCase):
    """MatchChildren counts every child from its spawn until it has ended, and stops it bounded."""

    def test_room_counts_children_until_they_end(self):
        """A spawned child takes one unit of room until it has ended, however it ends."""
        children = MatchChildren(self.clock, CONFIG, max_children=2, kill_grace=5.0)
        first, second = MatchProcess(self.clock, "one"), MatchProcess(self.clock, "two")
        children.spawn(first)
        children.spawn(second)
        self.assertEqual(children.room, 0)
        self.clock.processes[0].exit(0)
        self.assertEqual(children.room, 1)
        self.clock.processes[1].exit(signal=9)
        self.assertEqual(children.room, 2)

    def test_spawn_failure_takes_no_room(self):
        """A child that could not be spawned does not count."""
        children = MatchChildren(self.clock, CONFIG, max_children=1)
        self.clock.spawn_exception = OSError("no such file")
        self.assertRaises(OSError, children.spawn, MatchProcess(self.clock, "one"))
        self.assertEqual(children.room, 1)

    def test_stop_is_bounded(self):
        """stop sends TERM, then KILL, and fires with None after 2 * kill_grace even if the child never ends."""
        children = MatchChildren(self.clock, CONFIG, kill_grace=5.0)
        process = MatchProcess(self.clock, "one")
        children.spawn(process)
        d = children.stop(process)
        self.clock.advance(5)
        self.assertEqual(self.clock.processes[0].signals, ["TERM", "KILL"])
        self.assertNoResult(d)
        self.clock.advance(5)
        self.assertIsNone(self.successResultOf(d))
        self.assert_no_timers()


class EventLineTests(LauncherTestCase):
    """A child's ``Event:`` lines reach the daemon's GameEvents, checked."""

    def setUp(self):
        super().setUp()
        self.events, self.calls = recording_events()
        children = MatchChildren(self.clock, CONFIG, python="/usr/bin/python3", events=self.events)
        self.launcher = MatchLauncher(children, WarmPool(children, size=0))

    def test_config_asks_for_events(self):
        _, process = self.launch()
        self.assertEqual(process.stdin_lines()[0], dict(CONFIG, events=True))

    def test_events_after_the_port_are_replayed(self):
        log = self.log_events()
        record, process = self.launch_ready()
        process.out(b'Event: {"name":"creator_joined","args":["m1"]}\n'
                    b'Event: {"name":"weapons_selected","args":["m1","u1",2,"u2",null]}\n'
                    b'Event: {"name":"game_removed","args":[]}\n'
                    b'Event: {"name":"rm -rf","args":["m1"]}\n')
        process.out(b'Result: {"reason": "stopped"}\nEvent: {"name":"game_removed","args":["m1"]}\n')
        self.assertEqual(self.calls, [("creator_joined", "m1"), ("weapons_selected", "m1", "u1", 2, "u2", None),
                                      ("game_removed", "m1")])
        bad = [e for e in log if "bad event line" in e.get("log_format", "")]
        self.assertEqual(len(bad), 2)

    def test_no_events_without_a_receiver(self):
        self.launcher = self.make_launcher()
        _, process = self.launch()
        self.assertNotIn("events", process.stdin_lines()[0])

