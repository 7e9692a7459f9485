"""The warm pool with the real ``rpsa.matches.child`` child: a launch answered by a child that already holds its port.

The launcher runs on the real reactor and spawns ``python -m rpsa.matches.child``
(this interpreter, importing the rpsa under test) on a small range of free
127.0.0.1 ports.
"""

from __future__ import annotations

import sys

from twisted.internet import defer, reactor, task
from twisted.python.runtime import platform
from twisted.trial.unittest import TestCase

from rpsa.matches.launcher import MatchLauncher
from rpsa.play.settings import GameSettings
from tests.support.process import free_port_range, process_gone
from tests.support.process import child_env
from tests.support.wsclient import connect, of_type

TOKEN_A = "warm-token-of-ann"
TOKEN_B = "warm-token-of-ben"
POLL = 0.05


def match_request(match_id):
    """A launch request for a match between ann and ben, with their tokens."""
    return {
        "match_id": match_id,
        "rounds": 1,
        "players": [
            {"user_id": "ann", "username": "Ann", "token": TOKEN_A},
            {"user_id": "ben", "username": "Ben", "token": TOKEN_B},
        ],
    }


def sleep(seconds):
    """A Deferred firing after ``seconds`` on the real reactor."""
    return task.deferLater(reactor, seconds, lambda: None)


class RealWarmPoolTests(TestCase):
    """A launcher with one warm ``rpsa.matches.child`` child on real ports."""

    if not platform.isLinux():
        skip = "needs /proc to check that children are gone"

    timeout = 120

    def setUp(self):
        self.low, self.high = free_port_range(2)
        config = GameSettings(tick=0.02, join_timeout=30).to_json()
        config.update(ports=[self.low, self.high], interface="127.0.0.1")
        self.launcher = MatchLauncher(
            reactor, config, launch_timeout=30, kill_grace=2, python=sys.executable, env=child_env(), warm=1
        )
        self.addCleanup(self.launcher.stopAll)

    @defer.inlineCallbacks
    def waitFor(self, condition, what, attempts=400):
        """Poll ``condition`` every POLL seconds, at most ``attempts`` times; fail with ``what`` if it stays false."""
        for _ in range(attempts):
            if condition():
                return
            yield sleep(POLL)
        self.fail(f"gave up waiting for {what}")

    @defer.inlineCallbacks
    def test_launch_on_warm_child(self):
        """A launch goes to the ready warm child, which a player reaches with its token; stopAll leaves no child."""
        self.launcher.startWarming()
        yield self.waitFor(lambda: self.launcher.warm_ready == 1, "a ready warm child")
        warm = self.launcher._warm_ready[0].process

        d = self.launcher.launch(match_request("warm-1"))
        self.assertTrue(d.called, "a launch on a ready warm child fires at once")
        record = yield d
        self.assertEqual((record.pid, record.port, record.state), (warm.pid, warm.port, "waiting"))
        self.assertTrue(self.low <= record.port <= self.high)
        self.assertEqual(self.launcher.list(), [record])

        client = yield connect(reactor, f"ws://127.0.0.1:{record.port}/ws?token={TOKEN_A}")
        welcome = yield client.wait_for(of_type("welcome"))
        self.assertEqual((welcome["role"], welcome["userId"]), ("player", "ann"))
        yield self.waitFor(lambda: record.players[0]["connected"], "the child's Status line with ann connected")
        self.assertEqual([p["connected"] for p in record.players], [True, False])

        yield self.waitFor(lambda: self.launcher.warm_ready == 1, "the replacement warm child")
        replacement = self.launcher._warm_ready[0].process
        self.assertNotIn(replacement.port, (None, record.port))
        self.assertTrue(self.low <= replacement.port <= self.high)

        yield self.launcher.stopAll()
        pids = [record.pid, replacement.pid]
        yield self.waitFor(lambda: all(process_gone(pid) for pid in pids), f"children {pids} to be gone", attempts=100)
        self.assertEqual((record.state, record.reason), ("ended", "stopped"))
        self.assertEqual(self.launcher.warm_ready, 0)
        yield client.closed.addTimeout(10, reactor)
