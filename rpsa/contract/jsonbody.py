"""Reading a JSON document a client sent: bounded in size and in nesting depth.

Python's JSON parser recurses once per nesting level: 8000 ``[`` (well under
16 KiB) raise ``RecursionError`` from deep inside it.  :func:`loads` refuses a
document nested deeper than ``max_depth`` before parsing it, with one linear
scan, so the parser never comes near the recursion limit, and turns every way
a document can be unreadable into one :class:`JSONBodyError`.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32  # arrays and objects inside one another; rpsa's deepest document needs 3

# A JSON string (its brackets do not count) or one bracket; anything else is skipped.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class JSONBodyError(ValueError):
    """A document that is not JSON, or nested too deeply; ``code`` is ``invalid_json``, ``message`` says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def nested_deeper_than(raw: bytes, max_depth: int) -> bool:
    """Whether arrays and objects nest deeper than ``max_depth`` in ``raw`` (brackets in strings do not count)."""
    level = 0
    for token in _TOKENS.finditer(raw):
        if token.group() in (b"[", b"{"):
            level += 1
            if level > max_depth:
                return True
        elif token.group() in (b"]", b"}"):
            level -= 1
    return False


def loads(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``raw`` (UTF-8 JSON); raise :class:`JSONBodyError` if it is not JSON or is nested deeper than ``max_depth``."""
    if b"[" in raw or b"{" in raw:
        if nested_deeper_than(raw, max_depth):
            raise JSONBodyError("invalid_json", f"the JSON document is nested deeper than {max_depth} levels")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise JSONBodyError("invalid_json", "the request body is not valid JSON") from None
