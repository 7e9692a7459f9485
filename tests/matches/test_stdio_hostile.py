"""The match line (rpsa.matches.stdio) against what the daemon must never hand a child (issue 10): the same name rule."""

import json

from twisted.trial.unittest import SynchronousTestCase

from rpsa.matches import stdio


def match_line(**changes):
    match = {"match_id": "m1", "rounds": 3, "players": [
        {"user_id": "a", "username": "A", "token": "t" * 43},
        {"user_id": "b", "username": "B", "token": "u" * 43}]}
    for key, value in changes.items():
        if key in ("user_id", "username"):
            match["players"][0][key] = value
        else:
            match[key] = value
    return json.dumps(match).encode()


class MatchLineTests(SynchronousTestCase):

    def test_good(self):
        self.assertEqual(stdio.decode_match(match_line())["match_id"], "m1")

    def test_names(self):
        """A lone surrogate or a control character in a name would poison every message of the match."""
        for field in ("user_id", "username"):
            for bad in ("\ud800", "a\x1b", "a\n", "", "x" * 65):
                with self.assertRaises(stdio.ChildError, msg=(field, bad)):
                    stdio.decode_match(match_line(**{field: bad}))

    def test_match_id(self):
        for bad in ("m1\n", "", "has space", "x" * 65, 3):
            with self.assertRaises(stdio.ChildError, msg=bad):
                stdio.decode_match(match_line(match_id=bad))

    def test_deep_line(self):
        """A deeply nested line is bad_match, not a RecursionError."""
        with self.assertRaises(stdio.ChildError):
            stdio.decode_match(b"[" * 8000)


class HeartbeatLineTests(SynchronousTestCase):
    """The heartbeat, both directions."""

    def test_round_trip(self):
        self.assertEqual(stdio.decode_heartbeat(stdio.heartbeat_line(7).rstrip(b"\n")), 7)
        self.assertEqual(stdio.parse_report(b"Heartbeat: 7"), ("heartbeat", 7))

    def test_other_lines(self):
        for line in (b'{"match_id": "m1"}', b'{"heartbeat": "7"}', b'{"heartbeat":', b"heartbeat"):
            self.assertIsNone(stdio.decode_heartbeat(line), line)
