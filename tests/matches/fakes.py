"""Fakes for the tests of rpsa.matches: a fake process reactor, and a launcher fixture on it.

The fake reactor is in the style of ``twisted.runner.test.test_procmon``: its
``spawnProcess`` records the call and returns a :class:`FakeProcess` through
which a test plays the child (its stdout, stderr and exit).
"""

from __future__ import annotations

import json

from zope.interface import implementer

from twisted.internet.defer import gatherResults
from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.interfaces import IProcessTransport
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from rpsa.matches.launcher import LaunchError, MatchLauncher, MatchObserver
from rpsa.matches.children import MatchChildren
from rpsa.matches.warmpool import WarmPool

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
    """A reactor clock whose ``spawnProcess`` makes :class:`FakeProcess` objects (or raises ``spawn_exception``)."""

    def __init__(self):
        super().__init__()
        self.processes = []
        self.spawn_exception = None

    def spawnProcess(
        self, processProtocol, executable, args=(), env=None, path=None, uid=None, gid=None, usePTY=False, childFDs=None
    ):
        if self.spawn_exception is not None:
            raise self.spawn_exception
        process = FakeProcess(processProtocol, executable, list(args), env, childFDs, pid=1000 + len(self.processes))
        processProtocol.makeConnection(process)
        self.processes.append(process)
        return process

    def live_processes(self):
        """The spawned processes that have not ended, oldest first."""
        return [process for process in self.processes if process.running]


class RecordingObserver(MatchObserver):
    """A match observer that appends the records it hears about to ``ready`` and ``ended``."""

    def __init__(self, ready, ended):
        self.ready = ready
        self.ended = ended

    def match_ready(self, record):
        self.ready.append(record)

    def match_ended(self, record):
        self.ended.append(record)


class LauncherTestCase(SynchronousTestCase):
    """Common fixture: a launcher and its warm pool on a fake process reactor, with a recording observer."""

    def setUp(self):
        self.clock = FakeProcessReactor()
        self.ready = []
        self.ended = []
        self.launcher = self.make_launcher()

    def make_launcher(self, warm=0, max_matches=100, env=None, observers=None, **kwargs):
        """A launcher on ``self.clock`` whose observer appends to ``self.ready`` and ``self.ended``.

        Its warm pool of ``warm`` children (not started) is ``self.pool``;
        other keywords go to the launcher.
        """
        children = MatchChildren(
            self.clock, CONFIG, launch_timeout=10.0, max_children=max_matches, kill_grace=5.0,
            python="/usr/bin/python3", env=env,
        )
        self.pool = WarmPool(children, size=warm)
        if observers is None:
            observers = (RecordingObserver(self.ready, self.ended),)
        return MatchLauncher(children, self.pool, observers=observers, **kwargs)

    def launch(self, request=None):
        """Launch ``request``; return (results list, the FakeProcess or None)."""
        results = []
        spawned = len(self.clock.processes)
        self.launcher.launch(request or match_request()).addBoth(results.append)
        process = self.clock.processes[-1] if len(self.clock.processes) > spawned else None
        return results, process

    def launch_ready(self, request=None, port=9000):
        """Launch ``request`` and have its child report ``port``; return (record, FakeProcess)."""
        results, process = self.launch(request)
        process.out(b"Port: %d\n" % port)
        self.assertEqual(len(results), 1)
        return results[0], process

    def launch_error(self, results):
        """The LaunchError that the single launch result in ``results`` failed with."""
        self.assertEqual(len(results), 1)
        self.assertIsInstance(results[0], Failure)
        return results[0].trap(LaunchError) and results[0].value

    def stop_all(self):
        """Stop the warm pool, then the launcher, as the daemon does; fires with ``None`` once both have."""
        return gatherResults([self.pool.stopService(), self.launcher.stopService()]).addCallback(lambda _: None)

    def log_events(self):
        """A list that receives every log event from now until the test ends."""
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        return events

    def assert_no_tokens(self, events):
        """Some events were logged, and none mentions a token."""
        self.assertTrue(events)
        for event in events:
            text = formatEvent(event) + repr(event)
            self.assertNotIn(TOKEN_A, text)
            self.assertNotIn(TOKEN_B, text)

    def assert_no_timers(self):
        """No delayed call is left on the clock."""
        self.assertEqual(self.clock.getDelayedCalls(), [])
