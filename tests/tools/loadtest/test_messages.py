"""Tests of ``rpsa.tools.loadtest.messages``: what the tool sends is what the server parses; names are the wire's."""

import json

from twisted.trial.unittest import SynchronousTestCase

from rpsa.play import wire
from rpsa.tools.loadtest import messages


class ClientMessageTests(SynchronousTestCase):
    """The tool's messages are the ones rpsa (and the original server) accept."""

    def parse(self, message):
        """The server's reading of a message the tool sends."""
        return wire.parse_client_message(messages.encode(message), False)

    def test_select_fighter(self):
        """select_fighter carries the fighter id."""
        self.assertEqual(self.parse(messages.select_fighter("hog")), ("select_fighter", "hog"))

    def test_start_battle(self):
        """start_battle carries nothing."""
        self.assertEqual(self.parse(messages.start_battle()), ("start_battle", None))

    def test_select_weapon(self):
        """select_weapon carries the weapon index."""
        self.assertEqual(self.parse(messages.select_weapon(2)), ("select_weapon", 2))

    def test_encoding_is_compact_json(self):
        """Messages are sent as compact UTF-8 JSON."""
        self.assertEqual(messages.encode(messages.select_weapon(1)), b'{"type":"select_weapon","index":1}')


class ServerNameTests(SynchronousTestCase):
    """The names the tool recognises are the original protocol's (its --compat routes depend on it)."""

    def test_message_types(self):
        """The server message types, as docs/protocol.md lists them."""
        self.assertEqual(
            (messages.PLAYER_JOINED, messages.FIGHTER_SELECTED, messages.SYNC, messages.ERROR,
             messages.GAME_EVENT, messages.ROUND_EVENT),
            ("player_joined", "select_fighter", "sync", "error", "RPSGameEvent", "RPSRoundEvent"))

    def test_event_numbers(self):
        """GAME_STARTED 0, GAME_COMPLETE 1, WEAPON_COUNTDOWN 1, STATE_CHANGE 2, silent tick before 3 -> 2."""
        self.assertEqual(
            (messages.GAME_STARTED, messages.GAME_COMPLETE, messages.WEAPON_COUNTDOWN, messages.STATE_CHANGE,
             messages.AFTER_SILENT_TICK),
            (0, 1, 1, 2, (3, 2)))

    def test_normal_close(self):
        """After GAME_COMPLETE a client closes with 1000 "game complete", as the server does."""
        self.assertEqual((messages.NORMAL_CLOSE, messages.NORMAL_CLOSE_REASON), (1000, "game complete"))

    def test_event_type(self):
        """event_type reads eventData.type, or None when there is no such object."""
        self.assertEqual(messages.event_type(json.loads('{"eventData": {"type": 1}}')), 1)
        self.assertIsNone(messages.event_type({"eventData": [1]}))
        self.assertIsNone(messages.event_type({}))
