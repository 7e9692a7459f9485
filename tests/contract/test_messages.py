"""Tests for L{rpsa.contract.messages}: client messages parsed, server messages held to their schema.

The server side is checked against the code, not against examples: a whole
match (two players, a spectator, a reconnection) is played over in-memory
WebSockets and every message it sends must decode as a ``ServerMessage``.
The client side is checked against the JSON Schema generated from the same
structures: for any payload, the parser accepts it exactly when the schema
validates it.
"""

import json
import os
import re

import jsonschema_rs
import msgspec
from autobahn.twisted.testing import MemoryReactorClockResolver
from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from rpsa.contract import messages
from rpsa.rules import FIGHTERS
from tests.play.fakes import make_lobby
from tests.support.frames import MemoryPeer, text

WEAPON_COUNTDOWN = 1
DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "protocol.md")


def parse(payload, is_binary=False):
    """``(type, argument)`` or ``("error", code)``."""
    try:
        return messages.parse_client_message(payload, is_binary)
    except messages.BadMessage as e:
        return "error", e.code


class ParseTests(SynchronousTestCase):

    def test_valid(self):
        """The three client messages, extra fields ignored."""
        self.assertEqual(parse(b'{"type": "select_weapon", "index": 2}'), ("select_weapon", 2))
        self.assertEqual(parse(b'{"type": "select_fighter", "characterId": "aru", "x": [1]}'),
                         ("select_fighter", "aru"))
        self.assertEqual(parse(b'{"type": "start_battle"}'), ("start_battle", None))

    def test_error_codes(self):
        """Each kind of bad message has its code."""
        cases = {
            b"nope": "invalid_json", b"\xff": "invalid_json", b"[" * 5000: "invalid_json",
            b"[" * 3000 + b"]" * 3000: "invalid_json", b'"\\ud800"': "invalid_json",
            b"[]": "invalid_message", b"3": "invalid_message",
            b"{}": "unknown_type", b'{"type": 3}': "unknown_type", b'{"type": "dance"}': "unknown_type",
            b'{"type": "select_weapon", "index": true}': "bad_field",
            b'{"type": "select_weapon", "index": 1.0}': "bad_field",
            b'{"type": "select_weapon", "index": 3}': "bad_field",
            b'{"type": "select_weapon"}': "bad_field",
            b'{"type": "select_fighter", "characterId": "nobody"}': "bad_field",
            b'{"type": "select_weapon", "index": 1, "type": "start_battle"}': "invalid_message",
        }
        for payload, code in cases.items():
            self.assertEqual(parse(payload), ("error", code), payload[:60])
        self.assertEqual(parse(b'{"type": "start_battle"}', True), ("error", "invalid_json"))

    def test_memoised_errors_are_raised_again(self):
        """A refused payload is refused every time."""
        for _ in range(3):
            self.assertEqual(parse(b'{"type": "dance"}'), ("error", "unknown_type"))

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(
        st.binary(max_size=64),
        st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False)
                     | st.sampled_from([*messages.CLIENT_TYPES, *FIGHTERS, "type", "index"]) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(["type", "index", "characterId", "x"]), inner, max_size=3),
                     max_leaves=8).map(lambda v: json.dumps(v).encode()),
    ))
    def test_parser_agrees_with_the_schema(self, payload):
        """Any payload: a message exactly when the ClientMessage schema validates it; never another exception."""
        roots, components = messages.json_schemas("#/$defs/{name}")
        schema = dict(roots["ClientMessage"], **{"$defs": components})
        validator = jsonschema_rs.validator_for(schema)
        kind, _ = parse(payload)
        try:
            document = json.loads(payload)
            duplicate_free = True
        except ValueError:
            document, duplicate_free = None, False
        valid = duplicate_free and validator.is_valid(document)
        self.assertEqual(kind != "error", valid, payload)


class ServerMessageTests(SynchronousTestCase):
    """Everything a match sends conforms to the ServerMessage schema."""

    def test_a_whole_match(self):
        reactor = MemoryReactorClockResolver()
        lobby, game_settings, _ = make_lobby(reactor)
        session, host_seat = lobby.create("alice", "Alice Ünïcode 👩", game_id="g 1/é")
        _, guest_seat = lobby.join("g 1/é", "bob", "Bob")
        path = "/api/games/g/ws"
        host = MemoryPeer(lobby.factory(session.game_id), f"{path}?token={host_seat.token}")
        watcher = MemoryPeer(lobby.factory(session.game_id), path, port=40001)
        guest = MemoryPeer(lobby.factory(session.game_id), f"{path}?token={guest_seat.token}", port=40002)
        guest.send(text({"type": "select_weapon", "index": 9}))  # an error message
        for peer, fighter in ((host, "aru"), (guest, "mai")):
            peer.send(text({"type": "select_fighter", "characterId": fighter}))
            peer.send(text({"type": "start_battle"}))
        throws = {id(host): 0, id(guest): 1}
        seen = {id(host): 0, id(guest): 0}
        for _ in range(2000):  # ticks; a best-of-3 match takes far fewer
            reactor.advance(game_settings.tick)
            for peer in (host, guest, watcher):
                peer.poll()
            for peer in (host, guest):
                new = peer.messages[seen[id(peer)]:]
                seen[id(peer)] = len(peer.messages)
                if any(m.get("type") == "RPSRoundEvent" and m["eventData"]["type"] == WEAPON_COUNTDOWN for m in new):
                    peer.send(text({"type": "select_weapon", "index": throws[id(peer)]}))
            if session.engine.complete:
                break
        self.assertTrue(session.engine.complete)
        kinds = set()
        for peer in (host, guest, watcher):
            for message in peer.messages:
                messages.check_server_message(json.dumps(message, ensure_ascii=False).encode())
                kinds.add(message["type"])
        self.assertEqual(kinds, {"welcome", "player_joined", "select_fighter", "RPSGameEvent", "RPSRoundEvent",
                                 "sync", "error"})

    def test_player_left_and_reconnect(self):
        """``player_left`` and a second welcome conform too."""
        reactor = MemoryReactorClockResolver()
        lobby, _, _ = make_lobby(reactor)
        session, host_seat = lobby.create("alice", "Alice", game_id="g1")
        _, guest_seat = lobby.join("g1", "bob", "Bob")
        host = MemoryPeer(lobby.factory(session.game_id), f"/ws?token={host_seat.token}")
        guest = MemoryPeer(lobby.factory(session.game_id), f"/ws?token={guest_seat.token}", port=40001)
        guest.lose()
        again = MemoryPeer(lobby.factory(session.game_id), f"/ws?token={guest_seat.token}", port=40002)
        host.poll()
        self.assertTrue(host.of_type("player_left"))
        for message in host.messages + again.messages:
            messages.check_server_message(json.dumps(message).encode())

    def test_hidden_health(self):
        """A welcome that hides a fighter hides its health (100 or 120 would give the pick away)."""
        bad = {"type": "welcome", "role": "spectator", "game": {
            "game_id": "g", "state": "character_selection", "rounds": 3, "round": 0, "round_state": None,
            "players": [{"seat": 1, "user_id": "a", "username": "A", "connected": True, "fighter": None,
                         "fighter_selected": True, "ready": False, "health": 120, "round_wins": 0}],
            "spectators": 1}}
        with self.assertRaises(msgspec.ValidationError):
            messages.check_server_message(json.dumps(bad).encode())


class DocumentedExamplesTests(SynchronousTestCase):
    """The message examples in docs/protocol.md are messages the code could send or accept."""

    def test_examples(self):
        with open(DOCS, encoding="utf-8") as f:
            blocks = re.findall(r"```json\n(.*?)```", f.read(), re.S)
        checked = 0
        for block in blocks:
            try:
                example = json.loads(block)
            except ValueError:
                continue
            if not isinstance(example, dict) or "type" not in example:
                continue
            try:
                messages.check_server_message(json.dumps(example).encode())
            except msgspec.ValidationError as server_error:
                self.assertNotEqual(parse(json.dumps(example).encode())[0], "error",
                                    f"{example}: {server_error}")
            checked += 1
        self.assertGreaterEqual(checked, 8)
