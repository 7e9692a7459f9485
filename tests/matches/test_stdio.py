"""Tests for rpsa.matches.stdio: the daemon <-> child line protocol, both directions, and its framing."""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from rpsa.matches.stdio import (
    EXIT_BAD_INPUT, MAX_LINE, ChildError, LineBuffer, decode_config, decode_event, decode_match, encode_line,
    error_report, event_report, json_report, parse_report, report_line,
)

PLAYERS = [
    {"user_id": "u1", "username": "alice", "token": "t1"},
    {"user_id": "u2", "username": "bob", "token": "t2"},
]


class ParsingTests(SynchronousTestCase):
    """The child's stdout lines and the line buffer."""

    def test_parse_reports(self):
        """Each kind of line is recognised; anything else is noise."""
        self.assertEqual(parse_report(b"Port: 9000\n"), ("port", 9000))
        self.assertEqual(parse_report(b'Status: {"state": "waiting"}'), ("status", {"state": "waiting"}))
        self.assertEqual(parse_report(b'Result: {"reason": "abandoned"}'), ("result", {"reason": "abandoned"}))
        self.assertEqual(parse_report(b"Status: [1]")[0], "malformed")
        self.assertEqual(parse_report(b"Ports: 9000")[0], "noise")
        self.assertEqual(parse_report(b"port: 9000")[0], "noise")

    def test_parse_errors(self):
        """Error lines give a code (child_error by default) and a message; a bad port is an error."""
        kind, error = parse_report(b"Error: no_free_port: none left\n")
        self.assertEqual((kind, error.code, error.message), ("error", "no_free_port", "none left"))
        kind, error = parse_report(b"Error: it broke\n")
        self.assertEqual((error.code, error.message), ("child_error", "it broke"))
        kind, error = parse_report(b"Port: 70000\n")
        self.assertEqual((kind, error.code), ("error", "bad_port"))

    def test_line_buffer(self):
        """Lines split anyhow come out whole; an overlong one comes out as None, once."""
        buffer = LineBuffer(10)
        self.assertEqual(buffer.feed(b"ab"), [])
        self.assertEqual(buffer.feed(b"c\nde\nf"), [b"abc", b"de"])
        self.assertEqual(buffer.feed(b"0123456789"), [None])
        self.assertEqual(buffer.feed(b"more"), [])
        self.assertEqual(buffer.feed(b"\nok\n" + b"y" * 11 + b"\nlast"), [b"ok", None])
        self.assertEqual(buffer.close(), [b"last"])
        self.assertEqual(buffer.close(), [])


class ReportTests(SynchronousTestCase):
    """What the child writes is what the daemon reads."""

    def test_round_trip(self):
        """Each line the child can write parses back to its kind and payload."""
        self.assertEqual(parse_report(report_line("Port", "9000")), ("port", 9000))
        self.assertEqual(parse_report(json_report("Status", {"state": "waiting"})), ("status", {"state": "waiting"}))
        self.assertEqual(parse_report(json_report("Result", {"reason": "stopped"})), ("result", {"reason": "stopped"}))
        kind, error = parse_report(error_report(ChildError("no_free_port", "none left")))
        self.assertEqual((kind, error.code, error.message), ("error", "no_free_port", "none left"))

    def test_lines_are_compact(self):
        """Reports and daemon lines are single compact lines ending in a newline."""
        self.assertEqual(json_report("Status", {"a": [1, 2]}), b'Status: {"a":[1,2]}\n')
        self.assertEqual(encode_line({"a": 1}), b'{"a":1}\n')
        self.assertRaises(ValueError, encode_line, {"a": float("nan")})

    def test_child_error(self):
        """ChildError reads as ``code: message`` and carries the child's exit status."""
        error = ChildError("bad_match", "no", EXIT_BAD_INPUT)
        self.assertEqual((str(error), error.exit_status), ("bad_match: no", EXIT_BAD_INPUT))
        self.assertEqual(ChildError("x", "y").exit_status, 1)


class DecodeTests(SynchronousTestCase):
    """The child's checks of the config and match lines."""

    def assert_bad(self, decode, line, code, message):
        """``decode(line)`` raises ChildError ``code`` (exit status 2) whose message contains ``message``."""
        error = self.assertRaises(ChildError, decode, line)
        self.assertEqual((error.code, error.exit_status), (code, EXIT_BAD_INPUT))
        self.assertIn(message, error.message)

    def test_config(self):
        """A config with a port range is accepted as it is."""
        config = {"ports": [9000, 9001], "interface": "0.0.0.0", "tick": 1.0}
        self.assertEqual(decode_config(encode_line(config)), config)

    def test_bad_config(self):
        """A config that is not a JSON object, or has a bad port range or interface, is bad_config."""
        self.assert_bad(decode_config, b"nope", "bad_config", "not JSON")
        self.assert_bad(decode_config, b"[1]", "bad_config", "JSON object")
        for ports in (None, [9000], [9001, 9000], [0, 10], [1, 70000], [1.5, 2]):
            self.assert_bad(decode_config, encode_line({"ports": ports}), "bad_config", "'ports'")
        self.assert_bad(decode_config, encode_line({"ports": [1, 2], "interface": 1}), "bad_config", "'interface'")

    def test_match(self):
        """A match gets rounds 3 by default."""
        match = decode_match(encode_line({"match_id": "m1", "players": PLAYERS}))
        self.assertEqual(match, {"match_id": "m1", "players": PLAYERS, "rounds": 3})

    def test_bad_match(self):
        """Bad JSON, players, match_id or rounds are bad_match."""
        self.assert_bad(decode_match, b"{", "bad_match", "not JSON")
        self.assert_bad(decode_match, b"[]", "bad_match", "'players'")
        self.assert_bad(decode_match, encode_line({"match_id": "m1", "players": PLAYERS[:1]}), "bad_match", "'players'")
        same = [PLAYERS[0], dict(PLAYERS[1], user_id="u1")]
        self.assert_bad(decode_match, encode_line({"match_id": "m1", "players": same}), "bad_match", "'players'")
        no_token = [PLAYERS[0], dict(PLAYERS[1], token="")]
        self.assert_bad(decode_match, encode_line({"match_id": "m1", "players": no_token}), "bad_match", "'players'")
        self.assert_bad(decode_match, encode_line({"match_id": 1, "players": PLAYERS}), "bad_match", "'match_id'")
        for rounds in (2, 11, True, "3"):
            line = encode_line({"match_id": "m1", "players": PLAYERS, "rounds": rounds})
            self.assert_bad(decode_match, line, "bad_match", "'rounds'")


class FramingTests(SynchronousTestCase):
    """Both ends split lines with LineBuffer at MAX_LINE."""

    def test_longest_line(self):
        """A line of MAX_LINE bytes passes; one byte more is dropped, and the next line still comes."""
        buffer = LineBuffer()
        self.assertEqual(buffer.feed(b"a" * MAX_LINE + b"\n"), [b"a" * MAX_LINE])
        self.assertEqual(buffer.feed(b"b" * (MAX_LINE + 1) + b"\nok\n"), [None, b"ok"])
        self.assertEqual(json.loads(buffer.feed(b"{}\n")[0]), {})


class EventLineTests(SynchronousTestCase):
    """``Event:`` lines: a match's lifecycle events, child to daemon."""

    def test_round_trip(self):
        """An event line parses back to its name and arguments."""
        line = event_report("weapons_selected", ["m1", "u1", 0, "u2", None])
        self.assertEqual(line, b'Event: {"name":"weapons_selected","args":["m1","u1",0,"u2",null]}\n')
        kind, payload = parse_report(line)
        self.assertEqual(kind, "event")
        self.assertEqual(decode_event(payload), ("weapons_selected", ["m1", "u1", 0, "u2", None]))
        self.assertEqual(parse_report(b"Event: [1]")[0], "malformed")

    def test_bad_events(self):
        """Unknown names, wrong arity and wrongly typed arguments are refused."""
        for payload in [{"name": "nope", "args": ["g"]}, {"name": "creator_joined", "args": []},
                        {"name": "creator_joined", "args": ["g", "x"]}, {"name": "creator_joined", "args": [""]},
                        {"name": "creator_joined", "args": [7]}, {"name": "creator_joined", "args": "g"},
                        {"name": "creator_joined"}, {"args": ["g"]},
                        {"name": "weapons_selected", "args": ["g", "u1", 3, "u2", 0]},
                        {"name": "weapons_selected", "args": ["g", "u1", "0", "u2", 0]},
                        {"name": "weapons_selected", "args": ["g", "u1", True, "u2", 0]},
                        {"name": "game_removed", "args": ["x" * 501]}]:
            with self.subTest(payload=payload):
                self.assertRaises(ValueError, decode_event, payload)

