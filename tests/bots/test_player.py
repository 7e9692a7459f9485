"""Tests for L{rpsa.bots.player.BotPlayer}: a bot holds a seat and plays through the real session.

Sessions come from L{rpsa.lobby.games.Lobby} on a L{twisted.internet.task.Clock};
the human is a L{tests.play.fakes.FakeConnection} that sends the same JSON a
browser sends.
"""

import json
import random

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rpsa.bots.player import BotPlayer, decode
from rpsa.bots.strategy import CounterStrategy, RandomStrategy
from rpsa.play import wire
from rpsa.play.frames import Burst, FramePreparer
from tests.play.fakes import FakeConnection, make_lobby, of_type

GAME, ROUND = "RPSGameEvent", "RPSRoundEvent"
GAME_COMPLETE, WEAPONS_SELECTED = 1, 3


def say(session, conn, message):
    """``conn`` sends ``message`` as a text frame."""
    return session.received(conn, json.dumps(message).encode(), False)


class BotPlayerTests(SynchronousTestCase):
    """A human (host) against a bot (seat 2)."""

    def setUp(self):
        self.clock = Clock()
        self.lobby, self.settings, self.scheduler = make_lobby(self.clock, tick=1.0)
        self.session, host_seat = self.lobby.create("alice", "Alice", game_id="g1", rounds=1)
        self.host = FakeConnection("alice")
        self.session.connect_player(host_seat, self.host)
        self.lobby.join("g1", "bot", "Computer")
        self.bot = BotPlayer(self.session, "bot", CounterStrategy(random.Random(5)), self.clock,
                             rng=random.Random(6))
        self.session.connect_player(self.session.seats[1], self.bot)

    def advance(self, seconds, step=0.1):
        """Move the clock on in small steps (bounded)."""
        for _ in range(int(seconds / step)):
            self.clock.advance(step)

    def test_picks_and_waits_for_the_human(self):
        """The bot picks a fighter at once but is ready only once the human has picked too."""
        self.advance(2)
        self.assertIsNotNone(self.bot._my_fighter())
        self.assertFalse(self.session.seats[1].ready)
        # The human sees that the bot picked, not what.
        self.assertEqual(self.host.of_type("select_fighter"), [])

    def test_the_match_starts_when_the_human_is_ready(self):
        """The human picks and readies; the bot answers the pick and the match starts within a tick."""
        self.advance(2)
        say(self.session, self.host, {"type": "select_fighter", "characterId": "aru"})
        say(self.session, self.host, {"type": "start_battle"})
        self.advance(1.5)
        self.assertEqual(self.session.state, "in_progress")
        self.assertTrue(self.bot.ready)

    def test_plays_a_whole_match(self):
        """The bot throws a weapon in every exchange (never a botch) and beats a human who never throws."""
        say(self.session, self.host, {"type": "select_fighter", "characterId": "aru"})
        say(self.session, self.host, {"type": "start_battle"})
        self.advance(200)
        complete = self.host.of_type(GAME, GAME_COMPLETE)
        self.assertEqual(len(complete), 1)
        self.assertEqual(complete[0]["eventData"]["data"]["winnerId"], "bot")
        exchanges = self.host.of_type(ROUND, WEAPONS_SELECTED)
        self.assertTrue(exchanges)
        for exchange in exchanges:
            self.assertNotEqual(exchange["eventData"]["data"]["attackSummary"]["p2Selection"]["weaponId"], "botch")
        self.assertEqual(len(self.bot.history), len(exchanges))
        # The session closes every connection after the match, the bot's too.
        self.assertEqual(self.bot.close_code, wire.NORMAL)
        self.assertEqual(self.successResultOf(self.bot.is_closed), wire.NORMAL)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_picks_are_hidden(self):
        """Before an exchange resolves, nothing the human receives tells the bot's weapon."""
        say(self.session, self.host, {"type": "select_fighter", "characterId": "aru"})
        say(self.session, self.host, {"type": "start_battle"})
        for _ in range(300):
            self.clock.advance(0.1)
            if self.session.engine.round is not None and self.session.engine.round.selection(1) is not None:
                break
        self.assertIsNotNone(self.session.engine.round.selection(1))
        seen = json.dumps(self.host.messages)
        self.assertNotIn("weaponId", seen)

    def test_closed_bot_stops(self):
        """A removed game closes the bot: its pending move is cancelled and it sends nothing more."""
        self.clock.advance(0.01)
        self.lobby.remove("g1")
        self.assertEqual(self.bot.close_code, wire.GAME_REMOVED)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_takes_over_a_match_in_progress(self):
        """A bot connected to a seat mid-match (a takeover) resumes from the welcome snapshot and finishes."""
        lobby, _, _ = make_lobby(self.clock, tick=1.0)
        session, host_seat = lobby.create("alice", "Alice", game_id="g2", rounds=1)
        _, guest_seat = lobby.join("g2", "bob", "Bob")
        host, guest = FakeConnection("alice"), FakeConnection("bob")
        session.connect_player(host_seat, host)
        session.connect_player(guest_seat, guest)
        for conn, fighter in ((host, "aru"), (guest, "mai")):
            say(session, conn, {"type": "select_fighter", "characterId": fighter})
            say(session, conn, {"type": "start_battle"})
        self.advance(10)  # the first exchange is over: both botched
        session.disconnected(guest)  # bob's connection drops
        guest_seat.conn = None
        bot = BotPlayer(session, "bob", RandomStrategy(random.Random(1)), self.clock, rng=random.Random(2))
        session.connect_player(guest_seat, bot)
        self.assertEqual(bot.fighters, ["aru", "mai"])
        self.assertEqual(bot.seat_number, 2)
        self.advance(300)
        self.assertEqual(len(host.of_type(GAME, GAME_COMPLETE)), 1)
        thrown = [e["eventData"]["data"]["attackSummary"]["p2Selection"]["weaponId"]
                  for e in host.of_type(ROUND, WEAPONS_SELECTED)]
        self.assertEqual(thrown[0], "botch")  # bob's, before the bot took over
        self.assertNotIn("botch", thrown[1:])


class DecodeTests(SynchronousTestCase):
    """What the bot reads from a broadcast."""

    def test_bytes_prepared_and_burst(self):
        """Plain encoded bytes, a prepared frame (the JSON in ``payload``), or a burst of frames, in order."""
        sync = FramePreparer.prepare(b'{"type": "sync"}')
        event = FramePreparer.prepare(b'{"type": "RPSRoundEvent"}')
        self.assertEqual(decode(b'{"type": "sync"}'), [{"type": "sync"}])
        self.assertEqual(decode(sync), [{"type": "sync"}])
        self.assertTrue(of_type("sync")(decode(sync)[0]))
        self.assertEqual(decode(Burst([event, sync])), [{"type": "RPSRoundEvent"}, {"type": "sync"}])
