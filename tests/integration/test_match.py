"""Integration: the real daemon launches real match children on real ports."""

import os
import signal

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import TestCase

from tests.support.process import Daemon, free_port_range, process_gone
from tests.support.wsclient import connect, of_type, start_match

GAME_COMPLETE = 1


def match_body(match_id, rounds=1):
    return {"match_id": match_id, "rounds": rounds,
            "players": [{"user_id": "ann", "username": "Ann"}, {"user_id": "ben", "username": "Ben"}]}


class _RealLauncher:
    """A real daemon with a small port range, and ways to wait on its matches and children."""

    timeout = 120
    ports = 2
    # Seconds a match child waits for its players: long enough that a loaded machine's slow
    # children and clients never reach it (no test here waits for it but the exhaustion one).
    join_timeout = 15
    extra_args = ()

    @defer.inlineCallbacks
    def setUp(self):
        self.low, self.high = free_port_range(self.ports)
        self.daemon = Daemon(reactor, [
            "--tick", "0.02", "--match-ports", f"{self.low}-{self.high}",
            "--match-join-timeout", str(self.join_timeout), *self.extra_args,
        ])
        self.addCleanup(self._stop)
        yield self.daemon.ready()

    @defer.inlineCallbacks
    def _stop(self):
        if not self.daemon.proto.ended.called:
            yield self.daemon.stop()

    @defer.inlineCallbacks
    def _wait_state(self, match_id, states, attempts=100):
        for _ in range(attempts):
            status, record = yield self.daemon.request("GET", f"/api/match/{match_id}")
            if record.get("state") in states:
                return record
            yield task.deferLater(reactor, 0.1, lambda: None)
        self.fail(f"match {match_id} never reached {states}: {record}")

    @defer.inlineCallbacks
    def _wait_gone(self, pids, attempts=100):
        for _ in range(attempts):
            if all(process_gone(pid) for pid in pids):
                return
            yield task.deferLater(reactor, 0.1, lambda: None)
        self.fail(f"children still running: {[p for p in pids if not process_gone(p)]}")


class MatchLauncherTests(_RealLauncher, TestCase):
    """PUT /api/match against a real daemon with a small port range."""

    @defer.inlineCallbacks
    def test_whole_match(self):
        """Two players and a spectator play a match on the child's port; the child exits 0 with the result."""
        status, answer = yield self.daemon.request("PUT", "/api/match", match_body("final-1"))
        self.assertEqual(status, 201, answer)
        self.assertTrue(self.low <= answer["port"] <= self.high)
        ann, ben = answer["players"]
        # Either player may come first: Ben does.
        guest = yield connect(reactor, ben["ws_url"].replace("localhost", "127.0.0.1"))
        host = yield connect(reactor, ann["ws_url"].replace("localhost", "127.0.0.1"))
        spectator = yield connect(reactor, answer["spectate_url"].replace("localhost", "127.0.0.1"))
        yield spectator.wait_for(of_type("welcome"))
        start_match([(host, "man"), (guest, "man")], throws=(1, 0))
        spectator.send_json({"type": "start_battle"})
        done = yield spectator.wait_for(of_type("RPSGameEvent", event=GAME_COMPLETE))
        self.assertEqual(done["eventData"]["data"], {"winnerId": "ann", "loserId": "ben"})
        self.assertIn("spectator", [m.get("code") for m in spectator.messages if m["type"] == "error"])
        record = yield self._wait_state("final-1", ("ended",))
        self.assertEqual(record["result"]["winner"], "ann")
        self.assertEqual(record["result"]["round_wins"], {"ann": 1, "ben": 0})
        yield self._wait_gone([record["pid"]])
        record = yield self._wait_state("final-1", ("ended",))
        self.assertEqual(record["exit_code"], 0)
        self.assertNotIn(ann["token"], self.daemon.log)

    @defer.inlineCallbacks
    def test_idempotent_put_and_conflict(self):
        """The same PUT again answers 200 with the same port and tokens; a different body is 409."""
        status, first = yield self.daemon.request("PUT", "/api/match", match_body("again"))
        self.assertEqual(status, 201)
        status, second = yield self.daemon.request("PUT", "/api/match", match_body("again"))
        self.assertEqual((status, second), (200, first))
        status, conflict = yield self.daemon.request("PUT", "/api/match", match_body("again", rounds=3))
        self.assertEqual((status, conflict["error"]["code"]), (409, "match_exists"))
        status, listing = yield self.daemon.request("GET", "/api/match")
        self.assertEqual([m["match_id"] for m in listing["matches"]], ["again"])

    @defer.inlineCallbacks
    def test_delete_stops_child(self):
        """DELETE stops the child and the record says ended."""
        status, answer = yield self.daemon.request("PUT", "/api/match", match_body("doomed"))
        self.assertEqual(status, 201)
        _, record = yield self.daemon.request("GET", "/api/match/doomed")
        status, deleted = yield self.daemon.request("DELETE", "/api/match/doomed")
        self.assertEqual((status, deleted["state"]), (200, "ended"))
        yield self._wait_gone([record["pid"]])
        status, _ = yield self.daemon.request("DELETE", "/api/match/never")
        self.assertEqual(status, 404)

    @defer.inlineCallbacks
    def test_no_child_after_stop(self):
        """A clean stop of the daemon stops its children first."""
        pids = yield self._launch_two()
        yield self.daemon.stop()
        yield self._wait_gone(pids, attempts=20)

    @defer.inlineCallbacks
    def test_no_child_after_sigkill(self):
        """Children notice a daemon killed with SIGKILL and exit within 5 seconds."""
        pids = yield self._launch_two()
        os.kill(self.daemon.process.pid, signal.SIGKILL)
        yield self.daemon.proto.ended
        yield self._wait_gone(pids, attempts=50)

    @defer.inlineCallbacks
    def _launch_two(self):
        pids = []
        for n in range(2):
            status, _ = yield self.daemon.request("PUT", "/api/match", match_body(f"live{n}"))
            self.assertEqual(status, 201)
            _, record = yield self.daemon.request("GET", f"/api/match/live{n}")
            pids.append(record["pid"])
        self.assertFalse(any(process_gone(pid) for pid in pids))
        return pids


class PortExhaustionTests(_RealLauncher, TestCase):
    """Every port of the range in use; a no-show match frees its port at its join timeout.

    The join timeout is long enough that both matches still wait when the third PUT
    comes, however slowly a loaded machine starts their children.
    """

    @defer.inlineCallbacks
    def test_range_exhausted_then_freed_by_join_timeout(self):
        """With every port in use the launch is 503 no_free_port; a no-show match frees its port."""
        records = []
        for n in range(self.ports):
            status, answer = yield self.daemon.request("PUT", "/api/match", match_body(f"m{n}"))
            self.assertEqual(status, 201)
            records.append(answer)
        status, refused = yield self.daemon.request("PUT", "/api/match", match_body("one-too-many"))
        self.assertEqual((status, refused["error"]["code"]), (503, "no_free_port"))
        ended = yield self._wait_state("m0", ("ended",), attempts=300)
        self.assertEqual(ended["reason"], "abandoned")
        yield self._wait_state("m1", ("ended",), attempts=300)
        yield self._wait_gone([ended["pid"]])
        status, answer = yield self.daemon.request("PUT", "/api/match", match_body("after"))
        self.assertEqual(status, 201)
        self.assertIn(answer["port"], [r["port"] for r in records])
