"""Tests for L{rpsa.contract.bodies}: request bodies decoded and validated, answers checked."""

import json

import msgspec
from twisted.trial.unittest import SynchronousTestCase

from rpsa.contract import bodies


def players(*ids):
    return [{"user_id": i, "username": i.upper()} for i in ids]


class DecodeTests(SynchronousTestCase):

    def refused(self, body, kind, code="bad_field"):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        with self.assertRaises(bodies.BodyError) as caught:
            bodies.decode(raw, kind)
        self.assertEqual(caught.exception.code, code, body)
        return caught.exception.message

    def test_create_game(self):
        """Defaults for the optional fields; null means the default."""
        game = bodies.decode(b'{"user_id": "a", "username": "A", "game_id": null, "rounds": null}', bodies.CreateGame)
        self.assertEqual((game.user_id, game.username, game.game_id, game.rounds), ("a", "A", None, None))
        game = bodies.decode(b'{"user_id": "a", "username": "A", "game_id": "g", "rounds": 5, "x": 1}',
                             bodies.CreateGame)
        self.assertEqual((game.game_id, game.rounds), ("g", 5))

    def test_bad_names(self):
        """Each field's name rule, with the field named in the message."""
        for bad in ("", "x" * 65, "\ud800", "a\x1b", "a\n", 7, None, ["a"]):
            message = self.refused({"user_id": bad, "username": "A"}, bodies.JoinGame)
            self.assertIn("user_id", message)
            if bad is not None:  # a null game_id is "absent"
                self.assertIn("game_id", self.refused({"user_id": "a", "username": "A", "game_id": bad},
                                                      bodies.CreateGame))

    def test_missing(self):
        """A missing field is named."""
        self.assertEqual(self.refused({"username": "A"}, bodies.JoinGame), "'user_id' is required")
        self.assertIn("players[1].username", self.refused(
            {"match_id": "m", "players": [{"user_id": "a", "username": "A"}, {"user_id": "b"}]},
            bodies.MatchRequest))

    def test_rounds(self):
        """Rounds: 1, 3, 5, 7 or 9, an integer (not true, not "3")."""
        for bad in (0, 2, 11, "3", True, -1, [3], 3.0):
            self.refused({"user_id": "a", "username": "A", "rounds": bad}, bodies.CreateGame)

    def test_match_request(self):
        """A match: a match id from its alphabet (no final newline), two distinct players."""
        match = bodies.decode(json.dumps({"match_id": "m-1", "players": players("a", "b")}).encode(),
                              bodies.MatchRequest)
        self.assertEqual([p.user_id for p in match.players], ["a", "b"])
        for bad in ({"match_id": "m1\n", "players": players("a", "b")},
                    {"match_id": "has space", "players": players("a", "b")},
                    {"match_id": "m", "players": players("a")},
                    {"match_id": "m", "players": players("a", "b", "c")},
                    {"match_id": "m", "players": players("a", "a")},
                    {"match_id": "m", "players": players("a", "\ud800")}):
            self.refused(bad, bodies.MatchRequest)

    def test_not_an_object(self):
        """Not JSON, nested too deeply, or not an object: invalid_json."""
        for raw in (b"", b"[]", b"null", b'"x"', b"[" * 8000, b"{"):
            self.refused(raw, bodies.CompatGame, "invalid_json")

    def test_no_regular_expression_in_messages(self):
        """Messages describe the rule in words."""
        message = self.refused({"gameId": "g\x00", "userId": "u", "username": "U"}, bodies.CompatGame)
        self.assertIn("gameId", message)
        self.assertIn("printable", message)
        self.assertNotIn("\\x00", message)


class AnswerTests(SynchronousTestCase):

    def test_unknown_fields_break_an_answer(self):
        """Answer structures forbid fields they do not document."""
        bodies.check_answer(b'{"status": "ok"}', bodies.Health)
        with self.assertRaises(msgspec.ValidationError):
            bodies.check_answer(b'{"status": "ok", "extra": 1}', bodies.Health)
        with self.assertRaises(msgspec.ValidationError):
            bodies.check_answer(b'{"status": "fine"}', bodies.Health)
