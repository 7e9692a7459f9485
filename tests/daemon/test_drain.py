"""The drain sequence and the service's stop, driven with a Clock."""

import json

from twisted.application import service
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rpsa.play import wire
from rpsa.daemon.drain import Drainer
from rpsa.daemon.tap import GameServerService
from tests.play.fakes import FakeConnection, make_lobby


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
    """Records stops; ``records`` are what ``list()`` shows."""

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

    def stopService(self):
        super().stopService()
        return defer.succeed(None)


class FakeSystemd:
    """Records what would be sent to NOTIFY_SOCKET."""

    def __init__(self):
        self.sent = []

    def ready(self, status):
        self.sent.append(("READY", status))

    def stopping(self):
        self.sent.append(("STOPPING",))

    def status(self, text):
        self.sent.append(("STATUS", text))

    def stop(self):
        self.sent.append(("stop",))


class DrainTestCase(SynchronousTestCase):
    """A lobby on a clock with a waiting game and a game in progress, and a launcher."""

    def setUp(self):
        self.clock = Clock()
        self.lobby, self.settings, self.scheduler = make_lobby(self.clock)
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
        self.warm_pool = FakeWarmPool()

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
        drainer = Drainer(self.clock, self.lobby, self.launcher, timeout=600)
        done = drainer.drain()
        self.assertTrue(self.lobby.draining)
        self.assertEqual(self.waiting_conn.close_code, wire.SHUTTING_DOWN)
        self.assertNotIn("waiting", self.lobby.games)
        self.assertEqual(self.launcher.stopped, ["m-waiting"])
        self.assertIsNone(self.host.close_code)
        self.assertNoResult(done)
        self.clock.advance(5)
        self.assertNoResult(done)

    def test_drain_fires_when_everything_ended(self):
        """Once the last game and match have ended the drain fires True within a poll."""
        drainer = Drainer(self.clock, self.lobby, self.launcher, timeout=600)
        done = drainer.drain()
        self.finish_match()
        self.assertNoResult(done)  # the launched match still plays
        self.launcher.records[1].state = "ended"
        self.clock.advance(0.5)
        self.assertIs(self.successResultOf(done), True)
        self.assertEqual(self.host.close_code, None)  # closing is the service's next step

    def test_drain_timeout(self):
        """At the timeout the drain fires False though matches still run."""
        drainer = Drainer(self.clock, self.lobby, self.launcher, timeout=3)
        done = drainer.drain()
        self.clock.advance(2.9)
        self.assertNoResult(done)
        self.clock.advance(0.2)
        self.assertIs(self.successResultOf(done), False)

    def test_hurry(self):
        """A second signal (hurry) ends the drain at once; a second drain() gets the same outcome."""
        drainer = Drainer(self.clock, self.lobby, self.launcher, timeout=600)
        done = drainer.drain()
        drainer.hurry()
        self.assertIs(self.successResultOf(done), False)
        self.assertIs(self.successResultOf(drainer.drain()), False)


class ServiceStopTests(DrainTestCase):
    """GameServerService.stopService: STOPPING, drain, close, exit 0."""

    def make_service(self, timeout=600):
        self.systemd = FakeSystemd()
        service = GameServerService(self.lobby, self.scheduler, self.launcher, self.clock,
                                    drain_timeout=timeout, systemd=self.systemd, warm_pool=self.warm_pool)
        self.launcher.setServiceParent(service)
        self.warm_pool.setServiceParent(service)
        service.startService()
        return service

    def test_ready_then_stopping(self):
        """READY with the counts once started; STOPPING first thing when the stop begins."""
        service = self.make_service()
        self.assertEqual(self.systemd.sent, [("READY", "2 games, 2 matches")])
        self.assertTrue(self.warm_pool.running)
        service.stopService()
        self.assertEqual(self.systemd.sent[1], ("STOPPING",))
        self.assertFalse(self.warm_pool.running)

    def test_stop_after_drain_timeout_closes_everything(self):
        """At the drain timeout the running game's sockets close with 4104 and the children are stopped."""
        service = self.make_service(timeout=5)
        self.clock._exitSignal = 15  # what twistd's SIGTERM handler records
        stopped = service.stopService()
        self.clock.advance(5)
        self.assertEqual((self.host.close_code, self.guest.close_code), (wire.SHUTTING_DOWN, wire.SHUTTING_DOWN))
        self.assertTrue(self.launcher.stopped_all)
        self.successResultOf(stopped)
        self.assertIsNone(self.clock._exitSignal)  # a clean stop exits 0, not by the signal
        self.assertEqual(self.systemd.sent[-1], ("stop",))

    def test_completed_game_closes_normally(self):
        """A game that completed during the drain closes with 1000 when the service stops."""
        service = self.make_service()
        stopped = service.stopService()
        self.finish_match()
        self.launcher.records[1].state = "ended"
        self.clock.advance(0.5)
        self.successResultOf(stopped)
        self.assertEqual((self.host.close_code, self.guest.close_code), (1000, 1000))
