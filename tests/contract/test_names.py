"""Tests for L{rpsa.contract.names}: the one rule for ids and names."""

import re

import msgspec
from twisted.trial.unittest import SynchronousTestCase

from rpsa.contract import names

GOOD = ["alice", "Alice Smith", "a" * 64, "é ü ß", "名前", "👨\u200d👩\u200d👧", "a/b%c", "-_.~"]
BAD = ["", "a" * 65, "\ud800", "a\ud800b", "\udfff", "a\n", "m1\n", "\x00", "a\x1bb", "a\rb", "\t", "\x7f",
       "\x85", "\x9f", "a\u2028", "\u2029", "\u202e", "\u2066x", 7, None, ["a"], b"a"]


class NameTests(SynchronousTestCase):

    def test_good_names(self):
        """Printable text of 1 to 64 characters, spaces, emoji and joiners included, is a name."""
        for value in GOOD:
            self.assertIsNone(names.name_problem(value), value)
            self.assertTrue(names.is_name(value), value)

    def test_bad_names(self):
        """Empty, too long, control characters, lone surrogates, separators, bidi controls, non-strings: refused."""
        for value in BAD:
            self.assertIsInstance(names.name_problem(value), str, repr(value))
            self.assertFalse(names.is_name(value), repr(value))

    def test_trailing_newline(self):
        """A value ending in a newline is refused (a pattern ending in '$' let "m1\\n" through)."""
        self.assertFalse(names.is_name("m1\n"))
        self.assertFalse(names.is_match_id("m1\n"))

    def test_match_ids(self):
        """A match id is a name from letters, digits, '-' and '_'."""
        for value in ("m1", "A-b_9", "x" * 64):
            self.assertTrue(names.is_match_id(value), value)
        for value in ("", "has space", "x" * 65, "m/1", "é", 3):
            self.assertFalse(names.is_match_id(value), value)

    def test_msgspec_type_is_the_same_rule(self):
        """The msgspec ``Name`` type accepts exactly what ``is_name`` accepts."""
        for value in GOOD + BAD:
            try:
                msgspec.convert(value, names.Name)
                accepted = True
            except msgspec.ValidationError:
                accepted = False
            self.assertEqual(accepted, names.is_name(value), repr(value))

    def test_rounds(self):
        """Rounds are the rules' valid counts."""
        from rpsa.rules.game import VALID_ROUNDS

        self.assertEqual(names.Rounds.__args__, VALID_ROUNDS)

    def test_patterns_end_at_the_end(self):
        """The patterns end in \\Z, not $ (Python's $ matches before a final newline)."""
        for pattern in names.PATTERN_DESCRIPTIONS:
            self.assertTrue(pattern.endswith("\\Z"), pattern)
            self.assertIsNone(re.search(pattern, "a\n"))
