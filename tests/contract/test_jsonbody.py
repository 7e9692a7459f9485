"""Tests for L{rpsa.contract.jsonbody}: JSON from clients, bounded in size and depth."""

from twisted.trial.unittest import SynchronousTestCase

from rpsa.contract import jsonbody


class LoadsTests(SynchronousTestCase):

    def test_plain_documents(self):
        """Ordinary documents parse as the standard parser parses them."""
        self.assertEqual(jsonbody.loads(b'{"a": [1, {"b": null}], "c": "x"}'), {"a": [1, {"b": None}], "c": "x"})
        self.assertEqual(jsonbody.loads(b"3"), 3)

    def test_too_deep(self):
        """8000 '[' (under 16 KiB) are refused as invalid_json before parsing, without a RecursionError."""
        for raw in (b"[" * 8000, b"[" * 8000 + b"]" * 8000, b'{"a":' * 40 + b"1" + b"}" * 40):
            with self.assertRaises(jsonbody.JSONBodyError) as caught:
                jsonbody.loads(raw)
            self.assertEqual(caught.exception.code, "invalid_json")
            self.assertIn("nested", caught.exception.message)

    def test_depth_limit_is_inclusive(self):
        """Exactly max_depth levels parse; one more does not."""
        self.assertEqual(jsonbody.loads(b"[" * 32 + b"]" * 32), jsonbody.loads(b"[" * 32 + b"]" * 32))
        with self.assertRaises(jsonbody.JSONBodyError):
            jsonbody.loads(b"[" * 33 + b"]" * 33)

    def test_brackets_in_strings_do_not_count(self):
        """Brackets inside strings, escaped quotes included, are text."""
        raw = b'{"a": "' + b"[" * 100 + b'\\"' + b"{" * 100 + b'"}'
        self.assertEqual(jsonbody.loads(raw)["a"][:3], "[[[")

    def test_not_json(self):
        """Not JSON, not UTF-8, or a huge number: invalid_json."""
        for raw in (b"", b"{", b"\xff", b"nan", b"1" * 5000):
            with self.assertRaises(jsonbody.JSONBodyError) as caught:
                jsonbody.loads(raw)
            self.assertEqual(caught.exception.code, "invalid_json")
