"""Tests for L{rpsa.play.websocket}: the real Autobahn protocol of a game, over in-memory transports.

Each test creates a game with L{rpsa.lobby.games.Lobby.create}, which builds the
session's L{rpsa.play.websocket.GameConnectionFactory}, and connects Autobahn
clients to it with C{autobahn.twisted.testing.create_memory_agent}: the memory
agent builds the server side with the game's factory, and the pumper moves the
bytes both ways from the real reactor every 0.1 s.

The lobby, its tick scheduler, the rate limiter and (through
C{txaio.testutil.replace_loop}) Autobahn's own timers, pings included, all run
on one L{MemoryReactorClockResolver}: time only moves when a test advances it.
"""

from autobahn.twisted.testing import MemoryReactorClockResolver, create_memory_agent, create_pumper
from twisted.internet import defer
from twisted.trial.unittest import TestCase
from txaio.testutil import replace_loop

from rpsa.play import wire
from rpsa.rules import GameEventType, RoundEventType
from rpsa.play.websocket import GameConnectionFactory
from tests.play.fakes import RecordingHooks, make_lobby
from tests.support.wsclient import RecordingClient, of_type


class WebSocketTestCase(TestCase):
    """A game in a lobby, served over in-memory WebSockets."""

    timeout = 15
    settings = {}

    def setUp(self):
        self.reactor = MemoryReactorClockResolver()
        loop = replace_loop(self.reactor)
        loop.__enter__()
        self.addCleanup(loop.__exit__, None, None, None)
        self.pumper = create_pumper()
        self.pumper.start()
        self.addCleanup(self.pumper.stop)
        self.hooks = RecordingHooks()
        self.lobby, self.settings, self.scheduler = make_lobby(self.reactor, self.hooks, **type(self).settings)
        self.session, self.host_seat = self.lobby.create("alice", "Alice", game_id="g1")
        self.guest_seat = self.lobby.join("g1", "bob", "Bob")[1]
        self.factory = self.lobby.factory("g1")

    def open(self, query=""):
        """A client connecting to the game's WebSocket (``query`` starts with ``?``)."""
        factory = self.factory
        agent = create_memory_agent(self.reactor, self.pumper, lambda: factory.buildProtocol(None))
        clients = []

        def build():
            clients.append(RecordingClient())
            return clients[-1]

        agent.open(f"ws://localhost:8080/api/games/g1/ws{query}", {}, protocol_class=build)
        (client,) = clients
        return client

    @defer.inlineCallbacks
    def join(self, query=""):
        """A client whose handshake succeeded; fires once its welcome has arrived."""
        client = self.open(query)
        welcome = yield client.wait_for(of_type("welcome"))
        self.assertEqual(client.status_code, 101)
        return client, welcome

    @defer.inlineCallbacks
    def assert_refused(self, query, status):
        """Connecting with ``query`` is refused at the handshake with HTTP ``status``."""
        client = self.open(query)
        yield self.assertFailure(client.opened, ConnectionError)
        yield client.is_closed
        self.assertEqual(client.status_code, status)
        self.assertEqual(client.messages, [])

    @defer.inlineCallbacks
    def closed_with(self, client):
        """Fires with the close code the server sent ``client``."""
        yield client.is_closed
        return client.remoteCloseCode

    def token(self, seat):
        """The query string of a player holding ``seat``."""
        return f"?token={seat.token}"

    @defer.inlineCallbacks
    def start_match(self):
        """The host and player 2 connect, pick and start the match; fires with both clients."""
        host, _ = yield self.join(self.token(self.host_seat))
        guest, _ = yield self.join(self.token(self.guest_seat))
        for client, fighter in ((host, "aru"), (guest, "mai")):
            client.send_json({"type": "select_fighter", "characterId": fighter})
            client.send_json({"type": "start_battle"})
        yield defer.gatherResults([
            client.wait_for(of_type("RPSGameEvent", GameEventType.GAME_STARTED)) for client in (host, guest)])
        return host, guest


class HandshakeTests(WebSocketTestCase):
    """Who may connect: tokens, user ids, spectators."""

    @defer.inlineCallbacks
    def test_good_token_is_welcomed(self):
        """A player with its seat's token is welcomed as that player."""
        client, welcome = yield self.join(self.token(self.host_seat))
        self.assertEqual((welcome["role"], welcome["userId"]), ("player", "alice"))
        self.assertEqual(welcome["game"]["game_id"], "g1")
        self.assertIs(self.host_seat.connected, True)
        joined = yield client.wait_for(of_type("player_joined"))
        self.assertEqual(joined["gameData"]["p2Id"], "bob")

    @defer.inlineCallbacks
    def test_each_token_opens_its_own_seat(self):
        """Player 2's token opens player 2's seat."""
        yield self.join(self.token(self.host_seat))
        _, welcome = yield self.join(self.token(self.guest_seat))
        self.assertEqual(welcome["userId"], "bob")
        self.assertIs(self.guest_seat.connected, True)

    @defer.inlineCallbacks
    def test_original_parameter_names(self):
        """The original's ``game_token`` and ``user_id`` parameters are understood."""
        _, welcome = yield self.join(f"?game_token={self.host_seat.token}&user_id=alice")
        self.assertEqual(welcome["userId"], "alice")

    @defer.inlineCallbacks
    def test_wrong_token_is_refused_403(self):
        """A token that opens no seat of this game is refused with 403."""
        yield self.assert_refused("?token=not-a-real-token", 403)
        self.assertFalse(self.host_seat.connected)
        self.assertEqual(self.hooks.opened_count, 0)

    @defer.inlineCallbacks
    def test_token_of_another_game_is_refused_403(self):
        """A seat token is only good for its own game."""
        _, other_seat = self.lobby.create("carol", "Carol", game_id="g2")
        yield self.assert_refused(self.token(other_seat), 403)

    @defer.inlineCallbacks
    def test_token_of_another_user_is_refused_403(self):
        """A token presented with somebody else's user id is refused with 403."""
        yield self.assert_refused(f"{self.token(self.host_seat)}&user_id=bob", 403)
        self.assertFalse(self.host_seat.connected)

    @defer.inlineCallbacks
    def test_token_void_once_the_game_is_gone(self):
        """Once the game is removed its tokens open nothing."""
        token = self.token(self.host_seat)
        self.lobby.remove("g1")
        self.assertIsNone(self.lobby.find_token(self.host_seat.token))
        yield self.assert_refused(token, 404)

    @defer.inlineCallbacks
    def test_spectator_is_welcomed(self):
        """A connection without a token is welcomed as a spectator."""
        _, welcome = yield self.join()
        self.assertEqual(welcome["role"], "spectator")
        self.assertNotIn("userId", welcome)
        self.assertEqual(len(self.session.spectators), 1)


class SeatTests(WebSocketTestCase):
    """The original's seat rules through the real protocol: 4000, 4001, reconnection."""

    @defer.inlineCallbacks
    def test_guest_before_host_is_closed_4000(self):
        """Player 2 connecting before the host is accepted at the handshake, then closed with 4000."""
        guest = self.open(self.token(self.guest_seat))
        code = yield self.closed_with(guest)
        self.assertEqual(code, wire.HOST_NOT_CONNECTED)
        self.assertEqual(guest.messages, [])
        self.assertFalse(self.guest_seat.connected)

    @defer.inlineCallbacks
    def test_second_connection_closes_the_first_4001(self):
        """A second connection with the same token closes the first with 4001; the seat stays taken."""
        first, _ = yield self.join(self.token(self.host_seat))
        guest, _ = yield self.join(self.token(self.guest_seat))
        second, welcome = yield self.join(self.token(self.host_seat))
        self.assertEqual(welcome["userId"], "alice")
        code = yield self.closed_with(first)
        self.assertEqual(code, wire.REPLACED)
        yield guest.round_trip()  # anything the first connection's close caused has arrived
        self.assertEqual([m for m in guest.messages if m["type"] == "player_left"], [])
        self.assertEqual(len([m for m in guest.messages if m["type"] == "player_joined"]), 2)
        self.assertTrue(self.host_seat.connected)
        yield second.round_trip()
        self.assertIsNone(second.remoteCloseCode)

    @defer.inlineCallbacks
    def test_reconnect_with_the_same_token(self):
        """A player whose connection dropped is welcomed back on the same seat within the grace."""
        host, _ = yield self.join(self.token(self.host_seat))
        guest, _ = yield self.join(self.token(self.guest_seat))
        guest.transport.loseConnection()
        left = yield host.wait_for(of_type("player_left"))
        self.assertEqual(left["reconnectGrace"], self.settings.reconnect_grace)
        self.assertFalse(self.guest_seat.connected)
        _, welcome = yield self.join(self.token(self.guest_seat))
        self.assertEqual((welcome["userId"], welcome["game"]["players"][1]["connected"]), ("bob", True))
        self.reactor.advance(self.settings.reconnect_grace + 1)
        self.assertIn("g1", self.lobby.games)
        self.assertEqual(self.hooks.closed_count, 1)


class SpectatorLimitTests(WebSocketTestCase):
    """max_spectators is enforced at the handshake."""

    settings = {"max_spectators": 1}

    @defer.inlineCallbacks
    def test_spectator_over_the_limit_is_refused_503(self):
        """One spectator more than max_spectators is refused with 503; a freed place can be taken again."""
        first, _ = yield self.join()
        yield self.assert_refused("", 503)
        first.transport.loseConnection()
        yield first.is_closed
        _, welcome = yield self.join()
        self.assertEqual(welcome["role"], "spectator")

    @defer.inlineCallbacks
    def test_players_do_not_count_as_spectators(self):
        """A full spectator gallery does not keep players out."""
        yield self.join()
        _, welcome = yield self.join(self.token(self.host_seat))
        self.assertEqual(welcome["role"], "player")


class NoSpectatorTests(WebSocketTestCase):
    """max_spectators 0 turns spectating off."""

    settings = {"max_spectators": 0}

    @defer.inlineCallbacks
    def test_spectators_refused(self):
        """With max_spectators 0 every spectator is refused with 503."""
        yield self.assert_refused("", 503)
        self.assertEqual(len(self.session.spectators), 0)


class MessageSizeTests(WebSocketTestCase):
    """max_message_bytes: a bigger message closes its connection with 4102."""

    settings = {"max_message_bytes": 256}

    @staticmethod
    def padded_pick(size):
        """A valid select_fighter message of exactly ``size`` bytes."""
        base = b'{"type":"select_fighter","characterId":"aru","pad":""}'
        return base[:-2] + b"x" * (size - len(base)) + base[-2:]

    @defer.inlineCallbacks
    def test_message_at_the_limit_is_accepted(self):
        """A message of exactly max_message_bytes is processed."""
        client, _ = yield self.join(self.token(self.host_seat))
        client.sendMessage(self.padded_pick(self.settings.max_message_bytes))
        echo = yield client.wait_for(of_type("select_fighter"))
        self.assertEqual(echo["gameData"]["selectedCharacterId"], "aru")

    @defer.inlineCallbacks
    def test_message_over_the_limit_closes_4102(self):
        """A message over max_message_bytes closes the connection with 4102; the game carries on."""
        host, _ = yield self.join(self.token(self.host_seat))
        guest, _ = yield self.join(self.token(self.guest_seat))
        guest.sendMessage(self.padded_pick(self.settings.max_message_bytes + 1))
        code = yield self.closed_with(guest)
        self.assertEqual(code, wire.MESSAGE_TOO_BIG)
        self.assertEqual(self.hooks.rejections, ["size"])
        left = yield host.wait_for(of_type("player_left"))
        self.assertEqual(left["userId"], "bob")
        self.assertIsNone(self.session.engine.fighters[1])
        self.assertIn("g1", self.lobby.games)
        host.send_json({"type": "select_fighter", "characterId": "man"})
        yield host.wait_for(of_type("select_fighter"))


class RateLimitTests(WebSocketTestCase):
    """max_messages_per_second: flooding closes the flooder with 4103."""

    settings = {"max_messages_per_second": 5}

    @defer.inlineCallbacks
    def test_flooding_closes_4103_and_the_game_carries_on(self):
        """A player over the rate is closed with 4103 while the other keeps playing."""
        host, guest = yield self.start_match()
        for _ in range(self.settings.max_messages_per_second + 1):
            guest.send_json({"type": "select_weapon", "index": 1})
        code = yield self.closed_with(guest)
        self.assertEqual(code, wire.TOO_MANY_MESSAGES)
        self.assertEqual(self.hooks.rejections, ["rate"])
        yield host.wait_for(of_type("player_left"))
        self.assertIn(self.session, self.scheduler)
        self.reactor.advance(self.settings.tick)
        started = yield host.wait_for(of_type("RPSRoundEvent", RoundEventType.ROUND_STARTED))
        self.assertEqual(started["eventData"]["classtype"], "RPSRoundEvent")
        self.assertIsNone(host.remoteCloseCode)

    @defer.inlineCallbacks
    def test_rate_is_per_second(self):
        """A full second's allowance may be sent again once a second has passed, but not one more."""
        client, _ = yield self.join(self.token(self.host_seat))
        rate = self.settings.max_messages_per_second

        @defer.inlineCallbacks
        def burst(count, echoes):
            for _ in range(count):
                client.send_json({"type": "select_fighter", "characterId": "aru"})
            yield client.wait_for(lambda _: len([m for m in client.messages if m["type"] == "select_fighter"]) >= echoes)

        yield burst(rate, rate)
        self.reactor.advance(1.0)
        yield burst(rate, 2 * rate)
        self.assertIsNone(client.remoteCloseCode)
        client.send_json({"type": "start_battle"})
        code = yield self.closed_with(client)
        self.assertEqual(code, wire.TOO_MANY_MESSAGES)


class PingTests(WebSocketTestCase):
    """Dead peers are found by WebSocket pings."""

    def test_ping_options_on_the_factory(self):
        """Autobahn's own auto-ping is off (the shared heartbeat pings), the size limits are set."""
        factory = self.factory.factory
        self.assertIsInstance(factory, GameConnectionFactory)
        self.assertEqual(factory.autoPingInterval, 0)
        self.assertEqual(factory.heartbeat.interval, self.settings.ping_interval)
        self.assertEqual(factory.maxMessagePayloadSize, self.settings.max_message_bytes)

    @defer.inlineCallbacks
    def test_dead_peer_is_dropped(self):
        """A quiet peer is pinged; one that does not answer by the next beat is dropped; its seat is held."""
        host, _ = yield self.join(self.token(self.host_seat))
        guest, _ = yield self.join(self.token(self.guest_seat))
        guest.answer_pings = False
        self.reactor.advance(self.settings.ping_interval)  # both were heard (the handshake): no ping yet
        self.reactor.advance(self.settings.ping_interval)  # both quiet since: pinged
        yield defer.gatherResults([host.pinged, guest.pinged])
        yield host.round_trip()  # the host's pong has reached the server
        self.reactor.advance(self.settings.ping_interval)  # the guest stayed silent: dropped
        left = yield host.wait_for(of_type("player_left"))
        self.assertEqual(left["userId"], "bob")
        yield guest.is_closed
        self.assertFalse(self.guest_seat.connected)
        self.assertTrue(self.host_seat.connected)
        self.assertEqual(self.hooks.closed_count, 1)
