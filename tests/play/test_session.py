"""Tests for L{rpsa.play.session.GameSession} and L{rpsa.lobby.games.Lobby}: the wire flow of a game.

Sessions are created through L{rpsa.lobby.games.Lobby.create}/L{rpsa.lobby.games.Lobby.join}
on a L{twisted.internet.task.Clock}, so each has the lobby's real frame preparer;
connections are L{tests.play.fakes.FakeConnection}s, which decode the
C{PreparedMessage} payloads a session broadcasts.  A fake connection's close is
only recorded: where a test needs the transport's later C{onClose}, it calls
C{session.disconnected(conn)} itself (L{SessionTestCase.hang_up}).
"""

import json

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rpsa.play import views, wire
from rpsa.lobby.games import NoSuchGame
from rpsa.rules import Game, GameEventType, RoundEventType
from tests.play.fakes import FakeConnection, make_lobby, recording_events
from tests.support.wsclient import of_type

ROCK, PAPER, SCISSORS = 0, 1, 2
GAME, ROUND = "RPSGameEvent", "RPSRoundEvent"
WAITING_FOR_WEAPON_SELECTION = 2
FULL_HEALTH = {"aru": 100, "mai": 120, "man": 100}


def encode(message):
    """A client message as the bytes of one text frame."""
    return json.dumps(message).encode("utf-8")


def is_event(message, classtype, event_type):
    """Whether ``message`` is the engine event ``classtype``/``event_type``."""
    return message.get("type") == classtype and message["eventData"]["type"] == event_type


def events_of(messages):
    """Only the engine events and ``sync`` messages, in order."""
    return [m for m in messages if m["type"] in (GAME, ROUND, "sync")]


class SessionTestCase(SynchronousTestCase):
    """A lobby on a clock, and helpers to seat, connect and drive players."""

    settings = {}

    def setUp(self):
        self.clock = Clock()
        self.lobby, self.settings, self.scheduler = make_lobby(self.clock, **type(self).settings)

    # -- seats and connections ----------------------------------------------

    def create(self):
        """A new game with alice as its host; returns (session, host seat)."""
        return self.lobby.create("alice", "Alice", game_id="g1")

    def connect(self, seat, name=None):
        """A new connection holding ``seat``."""
        conn = FakeConnection(name or seat.user_id)
        self.session.connect_player(seat, conn)
        return conn

    def spectate(self, name="spectator"):
        """A new spectator connection."""
        conn = FakeConnection(name)
        self.session.connect_spectator(conn)
        return conn

    def hang_up(self, conn):
        """The transport of ``conn`` closed (what GameConnection.onClose reports)."""
        self.session.disconnected(conn)

    def seated_game(self):
        """alice (host) and bob connected and a spectator watching; every welcome already taken."""
        self.session, self.host_seat = self.create()
        self.guest_seat = self.lobby.join("g1", "bob", "Bob")[1]
        self.host = self.connect(self.host_seat)
        self.guest = self.connect(self.guest_seat)
        self.spectator = self.spectate()
        self.take_all()

    def everyone(self):
        """The game's three connections."""
        return (self.host, self.guest, self.spectator)

    def take_all(self):
        """Forget every message received so far, on every connection."""
        for conn in self.everyone():
            conn.take()

    # -- messages -------------------------------------------------------------

    def send(self, conn, message):
        """``conn`` sends ``message`` (a dict, or raw bytes as they came off the wire)."""
        payload = message if isinstance(message, bytes) else encode(message)
        self.session.received(conn, payload, False)

    def pick(self, conn, fighter):
        """``conn`` picks ``fighter``."""
        self.send(conn, {"type": "select_fighter", "characterId": fighter})

    def start_match(self, host_fighter="aru", guest_fighter="mai"):
        """Both pick and send start_battle; the match starts (GAME_STARTED)."""
        self.pick(self.host, host_fighter)
        self.pick(self.guest, guest_fighter)
        self.send(self.host, {"type": "start_battle"})
        self.send(self.guest, {"type": "start_battle"})
        self.assertIn(self.session, self.scheduler)

    def tick(self, throws=None):
        """One tick; then everyone in ``throws`` (conn → weapon) selects if the window is open."""
        self.clock.advance(self.settings.tick)
        if throws and self.session.engine.weapon_window_open:
            for conn, weapon in throws.items():
                self.send(conn, {"type": "select_weapon", "index": weapon})

    def tick_until(self, conn, predicate, limit=100, throws=None):
        """Tick (at most ``limit`` times) until ``conn`` receives a message matching ``predicate``."""
        for _ in range(limit):
            found = [m for m in conn.messages if predicate(m)]
            if found:
                return found[0]
            self.tick(throws)
        self.fail(f"{conn!r} got no matching message within {limit} ticks")

    def assert_error(self, conn, code):
        """``conn`` received exactly one message since the last take: an error with ``code``."""
        messages = conn.take()
        self.assertEqual(len(messages), 1, messages)
        (message,) = messages
        self.assertEqual(message["type"], "error")
        self.assertEqual(message["code"], code)
        self.assertIsInstance(message["message"], str)

    def assert_told(self, conn, code):
        """The last message ``conn`` received is its only error, with ``code`` (ticks may precede it)."""
        errors = conn.of_type("error")
        self.assertEqual(len(errors), 1, errors)
        self.assertIs(conn.messages[-1], errors[0])
        self.assertEqual(errors[0]["code"], code)
        self.assertIsInstance(errors[0]["message"], str)

    def assert_silent(self, *conns):
        """None of ``conns`` received anything since the last take."""
        for conn in conns:
            self.assertEqual(conn.take(), [], conn)

    def assert_gone(self, session):
        """The game is out of the lobby and its tokens open nothing."""
        self.assertNotIn(session.game_id, self.lobby.games)
        self.assertRaises(NoSuchGame, self.lobby.get, session.game_id)
        for seat in session.seats:
            self.assertIsNone(self.lobby.find_token(seat.token))


class ConnectTests(SessionTestCase):
    """What a connection receives when it opens."""

    def test_welcome_comes_first_then_player_joined(self):
        """A player's first message is its welcome; then everyone hears player_joined."""
        self.session, host_seat = self.create()
        host = self.connect(host_seat)
        welcome, joined = host.take()
        self.assertEqual(welcome["type"], "welcome")
        self.assertEqual((welcome["role"], welcome["userId"]), ("player", "alice"))
        self.assertEqual(welcome["game"]["state"], "waiting_for_players")
        self.assertEqual(welcome["game"]["players"][0]["connected"], True)
        self.assertEqual(joined, {"type": "player_joined", "gameData": {
            "p1Id": "alice", "p1Name": "Alice", "p2Id": None, "p2Name": None}})

    def test_player_joined_on_every_connect(self):
        """Every player connection, the second player's included, is announced to everyone."""
        self.seated_game()
        again = self.connect(self.guest_seat, "bob again")
        self.assertEqual(again.messages[0]["type"], "welcome")
        expected = {"p1Id": "alice", "p1Name": "Alice", "p2Id": "bob", "p2Name": "Bob"}
        for conn in (self.host, again, self.spectator):
            self.assertEqual(conn.of_type("player_joined"), [{"type": "player_joined", "gameData": expected}])

    def test_spectator_welcome(self):
        """A spectator is welcomed as a spectator, without a user id, and nobody else hears of it."""
        self.seated_game()
        watcher = self.spectate("watcher")
        (welcome,) = watcher.take()
        self.assertEqual(welcome["role"], "spectator")
        self.assertNotIn("userId", welcome)
        self.assertEqual(welcome["game"]["spectators"], 2)
        self.assertEqual([p["user_id"] for p in welcome["game"]["players"]], ["alice", "bob"])
        self.assert_silent(*self.everyone())

    def test_guest_before_host_is_closed_4000(self):
        """Player 2 connecting before the host has ever connected is closed with 4000."""
        self.session, host_seat = self.create()
        guest_seat = self.lobby.join("g1", "bob", "Bob")[1]
        early = self.connect(guest_seat, "early bob")
        self.assertEqual(early.close_code, wire.HOST_NOT_CONNECTED)
        self.assertEqual(early.messages, [])
        self.assertFalse(guest_seat.connected)
        host = self.connect(host_seat)
        guest = self.connect(guest_seat)
        self.assertIsNone(guest.close_code)
        self.assertEqual(guest.messages[0]["type"], "welcome")
        self.assertEqual(len(host.of_type("player_joined")), 2)

    def test_guest_may_reconnect_while_host_is_briefly_away(self):
        """Once the host has connected, player 2 reconnecting during the host's grace is welcomed, not 4000."""
        self.seated_game()
        self.hang_up(self.host)
        self.hang_up(self.guest)
        back = self.connect(self.guest_seat, "bob back")
        self.assertIsNone(back.close_code)
        self.assertEqual(back.messages[0]["type"], "welcome")

    def test_second_connection_replaces_the_first_4001(self):
        """A second connection with a connected token takes the seat; the first is closed 4001."""
        self.seated_game()
        replacement = self.connect(self.host_seat, "alice again")
        self.assertEqual(self.host.close_code, wire.REPLACED)
        self.assertIs(self.host_seat.conn, replacement)
        self.assertEqual(replacement.messages[0]["type"], "welcome")
        # The old transport closes later: the seat stays with the replacement.
        self.hang_up(self.host)
        self.assertIs(self.host_seat.conn, replacement)
        self.assertEqual(self.guest.of_type("player_left"), [])
        self.clock.advance(self.settings.reconnect_grace + 1)
        self.assertIn("g1", self.lobby.games)
        self.assertEqual(self.guest.of_type("error"), [])
        # Broadcasts now reach the replacement, never the old connection.
        self.connect(self.guest_seat, "bob again")
        self.assertEqual(len(replacement.of_type("player_joined")), 2)
        self.assertEqual(self.host.late, [])


class HiddenPickTests(SessionTestCase):
    """Fighter picks stay hidden until the rules allow them to be seen."""

    def setUp(self):
        super().setUp()
        self.seated_game()

    def test_first_pick_is_only_echoed_to_its_picker(self):
        """The first pick goes to its picker alone, however often it is changed."""
        self.pick(self.host, "aru")
        self.pick(self.host, "man")
        self.assertEqual(self.host.take(), [
            wire.fighter_selected("alice", "aru"), wire.fighter_selected("alice", "man")])
        self.assert_silent(self.guest, self.spectator)

    def test_second_pick_reveals_both_to_everyone(self):
        """The second pick tells players and spectators both picks, player 1's first."""
        self.pick(self.guest, "mai")
        self.assertEqual(self.guest.take(), [wire.fighter_selected("bob", "mai")])
        self.assert_silent(self.host, self.spectator)
        self.pick(self.host, "aru")
        both = [wire.fighter_selected("alice", "aru"), wire.fighter_selected("bob", "mai")]
        for conn in self.everyone():
            self.assertEqual(conn.take(), both, conn)

    def test_pick_before_opponent_has_a_seat(self):
        """A host picking alone, before player 2 has joined, is only echoed."""
        self.session.close(wire.GAME_REMOVED, "new game")
        self.session, seat = self.lobby.create("carol", "Carol", game_id="g2")
        carol, watcher = self.connect(seat), self.spectate()
        carol.take()
        watcher.take()
        self.pick(carol, "rad")
        self.assertEqual(carol.take(), [wire.fighter_selected("carol", "rad")])
        self.assert_silent(watcher)

    def fighters_seen(self, conn):
        """The fighters shown in the welcome ``conn`` received, by seat."""
        (welcome,) = [m for m in conn.messages if m["type"] == "welcome"]
        return [p["fighter"] for p in welcome["game"]["players"]]

    def test_welcome_after_one_pick(self):
        """With only the host's pick made, only the host's own welcome shows it."""
        self.pick(self.host, "aru")
        self.assertEqual(self.fighters_seen(self.connect(self.host_seat)), ["aru", None])
        self.assertEqual(self.fighters_seen(self.connect(self.guest_seat)), [None, None])
        self.assertEqual(self.fighters_seen(self.spectate()), [None, None])
        selected = [p["fighter_selected"] for p in views.snapshot(self.session, None)["players"]]
        self.assertEqual(selected, [True, False])

    def test_welcome_after_guest_pick(self):
        """With only player 2's pick made, the host's welcome hides it."""
        self.pick(self.guest, "mai")
        self.assertEqual(self.fighters_seen(self.connect(self.host_seat)), [None, None])
        self.assertEqual(self.fighters_seen(self.connect(self.guest_seat)), [None, "mai"])

    def test_hidden_pick_hides_health(self):
        """A hidden fighter's health is hidden too (100 or 120 would give the pick away)."""
        self.pick(self.guest, "mai")
        (welcome,) = [m for m in self.connect(self.host_seat).messages if m["type"] == "welcome"]
        self.assertEqual([p["health"] for p in welcome["game"]["players"]], [None, None])
        (welcome,) = [m for m in self.connect(self.guest_seat).messages if m["type"] == "welcome"]
        self.assertEqual([p["health"] for p in welcome["game"]["players"]], [None, 120])

    def test_welcome_after_both_picks(self):
        """Once both picks are made, every welcome shows both."""
        self.pick(self.host, "aru")
        self.pick(self.guest, "mai")
        for conn in (self.connect(self.host_seat), self.connect(self.guest_seat), self.spectate()):
            self.assertEqual(self.fighters_seen(conn), ["aru", "mai"])


class MatchTests(SessionTestCase):
    """Starting, playing and finishing a match."""

    def setUp(self):
        super().setUp()
        self.seated_game()

    def twin_engine(self):
        """A separate engine fed the same picks: what the session's engine should emit."""
        twin = Game(3)
        twin.add_player("alice")
        twin.add_player("bob")
        twin.select_fighter("alice", "aru")
        twin.select_fighter("bob", "mai")
        return twin

    @staticmethod
    def expected_messages(twin, events):
        """The messages ``events`` should become: each event, and sync after each STATE_CHANGE."""
        messages = []
        for event in events:
            messages.append({"type": event.classtype, "eventData": event.to_wire()})
            if event.classtype == ROUND and event.type == RoundEventType.STATE_CHANGE:
                health = twin.health
                messages.append({"type": "sync", "gameData": {"p1Health": health[0], "p2Health": health[1]}})
        return messages

    def test_whole_match(self):
        """A whole match reaches players and spectators alike, event for event, then the game closes with 1000."""
        twin = self.twin_engine()
        self.start_match()
        expected = self.expected_messages(twin, twin.start())
        self.assertEqual(expected[0], {"type": GAME, "eventData": {"type": 0, "data": {}, "classtype": GAME}})
        throws = {self.host: ROCK, self.guest: SCISSORS}
        for _ in range(500):
            if twin.complete:
                break
            self.tick(throws)
            expected.extend(self.expected_messages(twin, twin.tick()))
            if twin.weapon_window_open:
                twin.select_weapon("alice", ROCK)
                twin.select_weapon("bob", SCISSORS)
        self.assertTrue(twin.complete)
        for conn in self.everyone():
            # From GAME_STARTED on, a connection receives exactly the events and syncs, nothing else.
            received = conn.messages[conn.messages.index(expected[0]):]
            self.assertEqual(received, expected, conn)
        self.assert_sync_after_every_state_change(self.spectator.messages)
        self.assertEqual(expected[-1]["eventData"]["data"], {"winnerId": "alice", "loserId": "bob"})
        self.assertEqual(sum(is_event(m, ROUND, RoundEventType.ROUND_FINISHED) for m in expected), 2)
        self.assert_closes_after_completion()

    def test_one_write_per_tick(self):
        """Each tick's events and syncs reach a connection in one send (a Burst), however many there are."""
        self.start_match()
        for conn in self.everyone():
            conn.writes.clear()
        ticks_heard = 0
        for _ in range(500):
            if self.session.engine.complete:
                break
            before = [len(conn.messages) for conn in self.everyone()]
            self.tick({self.host: ROCK, self.guest: SCISSORS})
            heard = [len(conn.messages) - n for conn, n in zip(self.everyone(), before)]
            if heard[0]:
                ticks_heard += 1
        for conn in self.everyone():
            self.assertEqual(len(conn.writes), ticks_heard, conn)
            self.assertEqual(sum(conn.writes), len(events_of(conn.messages)) - 1, conn)  # GAME_STARTED came before
        self.assertGreater(max(self.host.writes), 2)  # a state change, its sync and more, in one write

    def assert_sync_after_every_state_change(self, messages):
        """Every STATE_CHANGE is followed at once by a sync with sane health figures."""
        changes = [i for i, m in enumerate(messages) if is_event(m, ROUND, RoundEventType.STATE_CHANGE)]
        self.assertGreater(len(changes), 10)
        for i in changes:
            sync = messages[i + 1]
            self.assertEqual(sync["type"], "sync")
            self.assertLessEqual(sync["gameData"]["p1Health"], FULL_HEALTH["aru"])
            self.assertLessEqual(sync["gameData"]["p2Health"], FULL_HEALTH["mai"])
        self.assertEqual(len([m for m in messages if m["type"] == "sync"]), len(changes))

    def assert_closes_after_completion(self):
        """After GAME_COMPLETE: the game leaves the lobby at once, and its connections close 1000 after close_delay."""
        self.assert_gone(self.session)
        self.assertNotIn(self.session, self.scheduler)
        self.assertEqual([conn.close_code for conn in self.everyone()], [None, None, None])
        self.clock.advance(self.settings.close_delay - 0.25)
        self.assertEqual([conn.close_code for conn in self.everyone()], [None, None, None])
        self.clock.advance(0.25)
        self.assertEqual([conn.close_code for conn in self.everyone()], [wire.NORMAL] * 3)
        self.assertTrue(self.session.closed)
        self.assertEqual([conn.late for conn in self.everyone()], [[], [], []])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_match_starts_when_both_are_ready(self):
        """One start_battle starts nothing; the second starts the match for everyone."""
        self.pick(self.host, "aru")
        self.pick(self.guest, "mai")
        self.take_all()
        self.send(self.host, {"type": "start_battle"})
        self.assert_silent(*self.everyone())
        self.assertNotIn(self.session, self.scheduler)
        self.send(self.guest, {"type": "start_battle"})
        for conn in self.everyone():
            (started,) = conn.take()
            self.assertTrue(is_event(started, GAME, GameEventType.GAME_STARTED))
        self.assertEqual(self.session.state, "in_progress")

    def test_start_battle_before_picking_a_fighter(self):
        """start_battle before one's fighter is chosen is refused with fighter_not_selected."""
        self.pick(self.guest, "mai")
        self.send(self.guest, {"type": "start_battle"})
        self.take_all()
        self.send(self.host, {"type": "start_battle"})
        self.assert_error(self.host, "fighter_not_selected")
        self.assert_silent(self.guest, self.spectator)
        self.assertFalse(self.host_seat.ready)
        self.assertNotIn(self.session, self.scheduler)

    def test_weapons_are_not_revealed_before_weapons_selected(self):
        """Selecting a weapon sends nothing to anyone; the choices appear only in WEAPONS_SELECTED."""
        self.start_match()
        self.tick_until(self.host, lambda m: is_event(m, ROUND, RoundEventType.STATE_CHANGE)
                        and m["eventData"]["data"]["newState"] == WAITING_FOR_WEAPON_SELECTION)
        self.take_all()
        self.send(self.host, {"type": "select_weapon", "index": PAPER})
        self.send(self.guest, {"type": "select_weapon", "index": ROCK})
        self.assert_silent(*self.everyone())
        selected = self.tick_until(self.spectator, lambda m: is_event(m, ROUND, RoundEventType.WEAPONS_SELECTED))
        summary = selected["eventData"]["data"]["attackSummary"]
        self.assertEqual((summary["p1Selection"]["weaponId"], summary["p2Selection"]["weaponId"]), ("paper", "rock"))
        for conn in self.everyone():
            before = conn.messages[:conn.messages.index(selected)]
            self.assertNotIn("paper", json.dumps(before))

    def test_select_weapon_index_validation(self):
        """Only the integers 0, 1 and 2 are weapons; anything else is bad_field and changes nothing."""
        self.start_match()
        self.tick_until(self.host, lambda m: is_event(m, ROUND, RoundEventType.WEAPON_COUNTDOWN))
        self.take_all()
        for index in (3, -1, "1", True, 1.5, None, [1]):
            self.send(self.host, {"type": "select_weapon", "index": index})
            self.assert_error(self.host, "bad_field")
            self.assertIsNone(self.session.engine.round.selection(0), index)
        self.send(self.host, {"type": "select_weapon"})
        self.assert_error(self.host, "bad_field")
        for index in (ROCK, PAPER, SCISSORS):
            self.send(self.host, {"type": "select_weapon", "index": index})
            self.assertEqual(self.session.engine.round.selection(0), index)
        self.assert_silent(*self.everyone())

    def test_select_weapon_before_the_match(self):
        """A weapon sent before the match has started is refused with match_not_started."""
        self.send(self.host, {"type": "select_weapon", "index": ROCK})
        self.assert_error(self.host, "match_not_started")

    def test_fighter_cannot_change_once_ready_or_started(self):
        """select_fighter after start_battle, or during the match, is refused."""
        self.pick(self.host, "aru")
        self.send(self.host, {"type": "start_battle"})
        self.take_all()
        self.pick(self.host, "man")
        self.assert_error(self.host, "already_ready")
        self.pick(self.guest, "mai")
        self.send(self.guest, {"type": "start_battle"})
        self.take_all()
        self.pick(self.guest, "man")
        self.assert_error(self.guest, "match_started")
        self.assertEqual([f.id for f in self.session.engine.fighters], ["aru", "mai"])



class LateDepartureTests(SessionTestCase):
    """A close delay longer than the reconnect grace: the seat rules must not outlive the match."""

    settings = {"close_delay": 15.0, "reconnect_grace": 2.0}

    def test_completed_match_ignores_late_departures(self):
        """A player leaving between GAME_COMPLETE and the close is not treated as a lost seat."""
        self.seated_game()
        self.start_match()
        throws = {self.host: ROCK, self.guest: SCISSORS}
        self.tick_until(self.host, of_type(GAME, GameEventType.GAME_COMPLETE), limit=500, throws=throws)
        self.take_all()
        self.hang_up(self.guest)
        self.clock.advance(self.settings.close_delay - 0.25)
        self.assert_silent(self.host, self.spectator)
        self.assertEqual(len(self.session.seats), 2)
        self.clock.advance(0.25)
        self.assertEqual((self.host.close_code, self.spectator.close_code), (wire.NORMAL, wire.NORMAL))


class BadInputTests(SessionTestCase):
    """Bad input is answered with an error and never hurts the game."""

    BAD = [
        # (payload, is_binary, error code)
        (b"{not json", False, "invalid_json"),
        (b"\xff\xfe{}", False, "invalid_json"),
        (b"[" * 1000, False, "invalid_json"),
        (encode({"type": "start_battle"}), True, "invalid_json"),
        (b"[1, 2]", False, "invalid_message"),
        (b'"select_fighter"', False, "invalid_message"),
        (b"null", False, "invalid_message"),
        (encode({"type": "dance"}), False, "unknown_type"),
        (encode({"characterId": "aru"}), False, "unknown_type"),
        (encode({"type": 7}), False, "unknown_type"),
        (encode({"type": "select_fighter", "characterId": "zzz"}), False, "bad_field"),
        (encode({"type": "select_fighter", "characterId": ["aru"]}), False, "bad_field"),
        (encode({"type": "select_fighter"}), False, "bad_field"),
    ]

    def setUp(self):
        super().setUp()
        self.seated_game()

    def send_raw(self, conn, payload, is_binary):
        """``conn`` sends a raw frame."""
        self.session.received(conn, payload, is_binary)

    def test_each_kind_of_bad_input(self):
        """Every kind of bad message gets its error code, to its sender only, and changes nothing."""
        before = views.snapshot(self.session, None)
        for payload, is_binary, code in self.BAD:
            self.send_raw(self.host, payload, is_binary)
            self.assert_error(self.host, code)
            self.assert_silent(self.guest, self.spectator)
        self.assertEqual(views.snapshot(self.session, None), before)
        self.assertIn("g1", self.lobby.games)
        self.pick(self.host, "aru")
        self.assertEqual(self.host.take(), [wire.fighter_selected("alice", "aru")])

    def test_bad_input_during_the_match(self):
        """Bad input in the middle of a match leaves the match ticking for everyone."""
        self.start_match()
        self.take_all()
        for payload, is_binary, code in self.BAD:
            self.send_raw(self.guest, payload, is_binary)
            self.assert_error(self.guest, code)
        self.tick()
        for conn in self.everyone():
            self.assertTrue(is_event(conn.take()[0], ROUND, RoundEventType.ROUND_STARTED))

    def test_spectator_messages_are_ignored_with_an_error(self):
        """A spectator's valid messages are refused with code spectator and have no effect."""
        for message in ({"type": "select_fighter", "characterId": "aru"}, {"type": "start_battle"}):
            self.send(self.spectator, message)
            self.assert_error(self.spectator, "spectator")
        self.assertEqual(self.session.engine.fighters, [None, None])
        self.start_match()
        self.tick_until(self.host, lambda m: is_event(m, ROUND, RoundEventType.WEAPON_COUNTDOWN))
        self.take_all()
        self.send(self.spectator, {"type": "select_weapon", "index": PAPER})
        self.assert_error(self.spectator, "spectator")
        self.assertEqual([self.session.engine.round.selection(s) for s in (0, 1)], [None, None])
        self.assert_silent(self.host, self.guest)

    def test_spectator_bad_input_gets_the_parse_error(self):
        """A spectator's malformed message is answered like a player's."""
        self.send_raw(self.spectator, b"{", False)
        self.assert_error(self.spectator, "invalid_json")


class ReconnectTests(SessionTestCase):
    """Players who leave: the seat is held for the grace, then the original's rules apply."""

    def setUp(self):
        super().setUp()
        self.seated_game()

    def test_absent_player_botches_and_reconnects_within_the_grace(self):
        """The match keeps ticking while a player is away (they botch); reconnecting resumes it."""
        self.start_match()
        self.tick_until(self.host, of_type(ROUND, RoundEventType.ROUND_COUNTDOWN))
        self.take_all()
        left_at = self.clock.seconds()
        self.hang_up(self.guest)
        left = {"type": "player_left", "userId": "bob", "reconnectGrace": self.settings.reconnect_grace}
        self.assertEqual(self.host.take(), [left])
        self.assertEqual(self.spectator.take(), [left])
        selected = self.tick_until(
            self.host, of_type(ROUND, RoundEventType.WEAPONS_SELECTED), throws={self.host: ROCK})
        self.assertLess(self.clock.seconds() - left_at, self.settings.reconnect_grace)
        summary = selected["eventData"]["data"]["attackSummary"]
        self.assertEqual(summary["p1Selection"]["weaponId"], "rock")
        self.assertEqual(summary["p2Selection"]["weaponId"], "botch")
        self.assertEqual(self.guest.messages, [])

        back = self.connect(self.guest_seat, "bob back")
        welcome, joined = back.take()
        self.assertEqual((welcome["type"], welcome["role"], welcome["userId"]), ("welcome", "player", "bob"))
        game = welcome["game"]
        self.assertEqual((game["state"], game["round"]), ("in_progress", 1))
        self.assertEqual([p["fighter"] for p in game["players"]], ["aru", "mai"])
        self.assertEqual([p["connected"] for p in game["players"]], [True, True])
        self.assertEqual([p["health"] for p in game["players"]], list(self.session.engine.health))
        self.assertLess(game["players"][1]["health"], FULL_HEALTH["mai"])
        self.assertEqual(joined["type"], "player_joined")

        self.clock.advance(self.settings.reconnect_grace)  # past the original grace
        self.assertIn("g1", self.lobby.games)
        self.assertEqual(self.host.of_type("error"), [])
        self.take_all()
        back.take()
        self.tick_until(self.host, of_type(ROUND), limit=5)
        self.assertEqual(events_of(back.messages), events_of(self.host.messages))

    def test_host_gone_for_good_removes_the_game(self):
        """The host not back within the grace: player 2 and spectators are told 4002 and closed; the game is gone."""
        self.start_match()
        self.tick()
        self.take_all()
        self.hang_up(self.host)
        self.guest.take()
        self.spectator.take()
        self.clock.advance(self.settings.reconnect_grace - 0.25)
        self.assertFalse(self.guest.closed)
        self.clock.advance(0.25)
        for conn in (self.guest, self.spectator):
            self.assertEqual(conn.close_code, wire.HOST_DISCONNECTED)
            self.assert_told(conn, wire.HOST_DISCONNECTED)
        self.assertTrue(self.session.closed)
        self.assertNotIn(self.session, self.scheduler)
        self.assert_gone(self.session)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_guest_gone_for_good_reopens_the_game(self):
        """Player 2 not back within the grace: the host is told 4003, stays, and a new player can join and play."""
        self.start_match()
        self.tick()
        guest_token = self.guest_seat.token
        self.hang_up(self.guest)
        self.take_all()
        self.clock.advance(self.settings.reconnect_grace)
        self.assert_told(self.host, wire.OPPONENT_DISCONNECTED)
        self.assert_told(self.spectator, wire.OPPONENT_DISCONNECTED)
        self.assertFalse(self.host.closed)
        self.assertNotIn(self.session, self.scheduler)
        self.assertEqual(self.session.state, "waiting_for_players")
        self.assertTrue(self.session.joinable)
        self.assertEqual(self.lobby.list(joinable_only=True), [self.session])
        self.assertIsNone(self.lobby.find_token(guest_token))
        self.assertIsNone(self.session.seat_for_token(guest_token))

        self.guest_seat = self.lobby.join("g1", "carol", "Carol")[1]
        self.guest = self.connect(self.guest_seat, "carol")
        welcome = self.guest.take()[0]
        self.assertEqual([p["fighter"] for p in welcome["game"]["players"]], [None, None])
        self.assertEqual(self.host.of_type("player_joined")[-1]["gameData"]["p2Id"], "carol")
        self.take_all()
        self.start_match(host_fighter="man", guest_fighter="rad")
        self.tick_until(self.guest, of_type(ROUND, RoundEventType.ROUND_STARTED), limit=2)
        self.assertTrue(is_event(self.guest.messages[2], GAME, GameEventType.GAME_STARTED))

    def test_join_timeout_removes_a_game_whose_creator_never_came(self):
        """A created game whose creator never connects is removed after join_timeout."""
        self.session.close(wire.GAME_REMOVED, "new game")
        session, _ = self.lobby.create("dave", "Dave", game_id="g2")
        self.clock.advance(self.settings.join_timeout - 0.25)
        self.assertIn("g2", self.lobby.games)
        self.clock.advance(0.25)
        self.assert_gone(session)
        self.assertTrue(session.closed)

    def test_join_timeout_reopens_a_seat_never_used(self):
        """Player 2 who joined but never connected loses the seat after join_timeout; the host is told 4003."""
        self.session.close(wire.GAME_REMOVED, "new game")
        self.session, seat = self.lobby.create("dave", "Dave", game_id="g2")
        host = self.connect(seat)
        self.lobby.join("g2", "erin", "Erin")
        host.take()
        self.clock.advance(self.settings.join_timeout)
        self.assert_error(host, wire.OPPONENT_DISCONNECTED)
        self.assertTrue(self.session.joinable)

    def test_connected_seats_outlive_the_join_timeout(self):
        """Seats whose players connected are not lost when join_timeout passes."""
        self.clock.advance(self.settings.join_timeout * 2)
        self.assertIn("g1", self.lobby.games)
        self.assertEqual(self.host.of_type("error"), [])


class LifecycleEventTests(SessionTestCase):
    """What a game tells its GameEvents, in order (the Varcade event stream is built from it)."""

    def setUp(self):
        self.clock = Clock()
        self.events, self.calls = recording_events()
        self.lobby, self.settings, self.scheduler = make_lobby(self.clock, events=self.events)

    def test_whole_game(self):
        """Joins, picks, readiness, every round and exchange, the end, and the removal."""
        self.seated_game()
        self.start_match()
        throws = {self.host: ROCK, self.guest: SCISSORS}
        self.tick_until(self.host, of_type(GAME, GameEventType.GAME_COMPLETE), limit=500, throws=throws)
        names = [call[0] for call in self.calls]
        self.assertEqual(self.calls[:6], [
            ("creator_joined", "g1"), ("all_players_joined", "g1"),
            ("fighter_selected", "g1", "alice", "aru"), ("fighter_selected", "g1", "bob", "mai"),
            ("player_ready", "g1", "alice"), ("player_ready", "g1", "bob"),
        ])
        self.assertEqual(self.calls[6], ("round_started", "g1", "alice", "bob"))
        self.assertIn(("weapons_selected", "g1", "alice", ROCK, "bob", SCISSORS), self.calls)
        self.assertEqual(names.count("round_started"), 2)
        self.assertEqual(self.calls.count(("round_finished", "g1", "alice", "bob", "alice", "bob")), 2)
        self.assertEqual(self.calls[-2:], [("game_over", "g1", "alice", "bob"), ("game_removed", "g1")])
        self.clock.advance(self.settings.close_delay)
        self.assertEqual(names.count("game_removed"), 1)

    def test_botch_is_none(self):
        """A player who picked no weapon is reported with None."""
        self.seated_game()
        self.start_match()
        self.tick_until(self.host, of_type(ROUND, RoundEventType.WEAPONS_SELECTED), throws={self.host: PAPER})
        self.assertIn(("weapons_selected", "g1", "alice", PAPER, "bob", None), self.calls)

    def test_guest_leaving_mid_game_is_a_player_disconnect(self):
        """player_disconnected for player 2 only; the host's leaving is not one."""
        self.seated_game()
        self.hang_up(self.guest)
        self.hang_up(self.host)
        self.assertEqual([c for c in self.calls if c[0] == "player_disconnected"], [("player_disconnected", "g1", "bob")])

    def test_every_accepted_connection_is_reported(self):
        """creator_joined and all_players_joined each time a socket is accepted; a refused one is not."""
        self.session, host_seat = self.create()
        guest_seat = self.lobby.join("g1", "bob", "Bob")[1]
        early = FakeConnection("early")
        self.session.connect_player(guest_seat, early)  # before the host: refused 4000
        host = self.connect(host_seat)
        self.hang_up(host)
        self.connect(host_seat)
        self.connect(guest_seat)
        self.assertEqual(self.calls, [("creator_joined", "g1"), ("creator_joined", "g1"), ("all_players_joined", "g1")])

    def test_removed_games(self):
        """game_removed when a game is removed, or its host is gone for good."""
        self.session, _ = self.create()
        self.lobby.remove("g1")
        self.lobby.create("carol", "Carol", game_id="g2")
        self.clock.advance(self.settings.join_timeout)
        self.assertEqual([c for c in self.calls if c[0] == "game_removed"], [("game_removed", "g1"), ("game_removed", "g2")])


class LingerTests(SessionTestCase):
    """A game of the original's routes: its sockets stay open after GAME_COMPLETE until they close or the linger ends."""

    def finished_game(self, linger):
        self.session, self.host_seat = self.lobby.create("alice", "Alice", game_id="g1", linger=linger)
        self.guest_seat = self.lobby.join("g1", "bob", "Bob")[1]
        self.host = self.connect(self.host_seat)
        self.guest = self.connect(self.guest_seat)
        self.spectator = self.spectate()
        self.start_match()
        throws = {self.host: ROCK, self.guest: SCISSORS}
        self.tick_until(self.host, of_type(GAME, GameEventType.GAME_COMPLETE), limit=500, throws=throws)
        self.take_all()
        self.assert_gone(self.session)

    def test_open_and_quiet_until_the_linger_ends(self):
        """Nothing is sent and nothing closed before the linger; then 1000."""
        self.finished_game(linger=600.0)
        self.clock.advance(599.0)
        self.assert_silent(*self.everyone())
        self.assertEqual([c.close_code for c in self.everyone()], [None, None, None])
        self.clock.advance(1.0)
        self.assertEqual([c.close_code for c in self.everyone()], [wire.NORMAL] * 3)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_closed_at_once_when_every_client_has_left(self):
        """Once its last connection is gone, the finished game closes at once (no timer left)."""
        self.finished_game(linger=600.0)
        self.hang_up(self.host)
        self.hang_up(self.spectator)
        self.assertFalse(self.session.closed)
        self.assertIsNone(self.guest.close_code)
        self.hang_up(self.guest)
        self.assertTrue(self.session.closed)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.lobby.connections(), [])

    def test_messages_are_answered_as_usual(self):
        """A message during the linger gets its usual answer (the match is over)."""
        self.finished_game(linger=600.0)
        self.send(self.host, {"type": "select_weapon", "index": ROCK})
        self.assert_error(self.host, "match_not_started")

    def test_shutdown_closes_lingering_games_with_1000(self):
        """close_all (shutdown) closes a lingering game's sockets with 1000."""
        self.finished_game(linger=600.0)
        self.lobby.close_all(wire.SHUTTING_DOWN, "shutting down")
        self.assertEqual([c.close_code for c in self.everyone()], [wire.NORMAL] * 3)


class SharedTokenTests(SessionTestCase):
    """The original's token semantics (opt-in): the host's token opens the seat the user_id holds."""

    def test_seat_by_user_id(self):
        session, host = self.lobby.create("alice", "Alice", game_id="g1", shared_token=True)
        guest = self.lobby.join("g1", "bob", "Bob")[1]
        self.assertIs(session.seat_for_token(host.token, "bob"), guest)
        self.assertIs(session.seat_for_token(host.token, "alice"), host)
        self.assertIsNone(session.seat_for_token(host.token, "mallory"))
        self.assertIs(session.seat_for_token(host.token), host)
        self.assertIs(session.seat_for_token(guest.token, "alice"), guest)  # the guest's own token stays its own

    def test_per_seat_by_default(self):
        session, host = self.create()
        self.lobby.join("g1", "bob", "Bob")
        self.assertIs(session.seat_for_token(host.token, "bob"), host)  # then refused: not bob's token
