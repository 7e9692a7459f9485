"""The drain sequence (rpsa.daemon.drain), driven with a Clock; fixtures shared with test_service."""

import json

from twisted.application import service
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rpsa.lobby.games import Draining, Lobby
from rpsa.play import wire
from rpsa.daemon.drain import Drainer, DrainState
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from tests.play.fakes import FakeConnection


class ClosingConnection(FakeConnection):
    """A fake connection whose ``is_closed`` fires when it is closed, like Autobahn's."""

    def __init__(self, name):
        super().__init__(name)
        self.is_closed = defer.Deferred()

    def close(self, code, reason):
        super().close(code, reason)
        if not self.is_closed.called:
            self.is_closed.callback(None)


class FakeRecord:
    """A launcher's match record: an id and a state."""

    def __init__(self, match_id, state):
        self.match_id = match_id
        self.state = state


class FakeLauncher(service.Service):
    """A launcher service: records stops; ``records`` are what ``list()`` shows."""

    def __init__(self, *records):
        self.records = list(records)
        self.stopped = []
        self.stopped_all = False

    def list(self):
        return list(self.records)

    def stop(self, match_id):
        self.stopped.append(match_id)
        for record in self.records:
            if record.match_id == match_id:
                record.state = "ended"
        return defer.succeed(None)

    def stopService(self):
        super().stopService()
        self.stopped_all = True
        return defer.succeed(None)


class FakeWarmPool(service.Service):
    """A warm pool: ``running`` says whether it warms."""


class DrainTestCase(SynchronousTestCase):
    """A lobby on a clock with a waiting game and a game in progress, and a launcher."""

    def setUp(self):
        self.clock = Clock()
        self.lobby, self.settings, self.scheduler = self.make_lobby()
        self.waiting_session, seat = self.lobby.create("w", "W", game_id="waiting")
        self.waiting_conn = ClosingConnection("waiting")
        self.waiting_session.connect_player(seat, self.waiting_conn)
        self.playing_session, host = self.lobby.create("a", "A", game_id="playing")
        guest = self.lobby.join("playing", "b", "B")[1]
        self.host, self.guest = ClosingConnection("a"), ClosingConnection("b")
        self.playing_session.connect_player(host, self.host)
        self.playing_session.connect_player(guest, self.guest)
        for conn, fighter in ((self.host, "aru"), (self.guest, "mai")):
            self.playing_session.received(conn, json.dumps({"type": "select_fighter", "characterId": fighter}).encode(), False)
            self.playing_session.received(conn, b'{"type": "start_battle"}', False)
        self.launcher = FakeLauncher(FakeRecord("m-waiting", "waiting"), FakeRecord("m-playing", "playing"))

    def make_lobby(self):
        """The lobby, its settings and scheduler, draining when ``self.state`` is active."""
        self.state = DrainState()
        settings = GameSettings()
        scheduler = TickScheduler(self.clock, settings.tick)
        return Lobby(self.clock, settings, scheduler, draining=self.state), settings, scheduler

    def drainer(self, timeout):
        """A Drainer of this lobby and launcher, with ``self.state``."""
        return Drainer(self.clock, self.state, self.lobby, self.launcher, timeout=timeout)

    def finish_match(self, limit=2000):
        """Tick the game in progress until it completes (bounded)."""
        for _ in range(limit):
            if self.playing_session.engine.complete:
                return
            self.clock.advance(self.settings.tick)
        self.fail("the match did not complete")


class DrainerTests(DrainTestCase):
    """Drainer: refuse, close the waiting, wait for the playing, bounded."""

    def test_drain_closes_waiting_and_keeps_playing(self):
        """Waiting games and matches are closed at once; playing ones keep going; new games refused."""
        drainer = self.drainer(timeout=600)
        done = drainer.drain()
        self.assertTrue(self.state.active)
        self.assertRaises(Draining, self.lobby.create, "n", "N")
        self.assertEqual(self.waiting_conn.close_code, wire.SHUTTING_DOWN)
        self.assertNotIn("waiting", self.lobby.games)
        self.assertEqual(self.launcher.stopped, ["m-waiting"])
        self.assertIsNone(self.host.close_code)
        self.assertNoResult(done)
        self.clock.advance(5)
        self.assertNoResult(done)

    def test_drain_fires_when_everything_ended(self):
        """Once the last game and match have ended the drain fires True within a poll."""
        drainer = self.drainer(timeout=600)
        done = drainer.drain()
        self.finish_match()
        self.assertNoResult(done)  # the launched match still plays
        self.launcher.records[1].state = "ended"
        self.clock.advance(0.5)
        self.assertIs(self.successResultOf(done), True)
        self.assertEqual(self.host.close_code, None)  # closing is the service's next step

    def test_drain_timeout(self):
        """At the timeout the drain fires False though matches still run."""
        drainer = self.drainer(timeout=3)
        done = drainer.drain()
        self.clock.advance(2.9)
        self.assertNoResult(done)
        self.clock.advance(0.2)
        self.assertIs(self.successResultOf(done), False)

    def test_hurry(self):
        """A second signal (hurry) ends the drain at once; a second drain() gets the same outcome."""
        drainer = self.drainer(timeout=600)
        done = drainer.drain()
        drainer.hurry()
        self.assertIs(self.successResultOf(done), False)
        self.assertIs(self.successResultOf(drainer.drain()), False)
