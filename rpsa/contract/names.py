"""Ids and names: the one rule for every id and name a client gives rpsa.

``user_id``, ``username``, ``game_id`` and ``match_id`` (and the original
routes' ``userId``, ``gameId``) are 1 to :data:`MAX_LENGTH` characters
(code points) of printable text: no C0 or C1 control character (``\\x00`` to
``\\x1f``, ``\\x7f`` to ``\\x9f``: NUL, ESC, CR, LF, TAB ...), no lone surrogate
(``"\\ud800"`` is valid JSON but cannot be encoded as UTF-8), no line or
paragraph separator (U+2028, U+2029) and no bidirectional control (U+202A to
U+202E, U+2066 to U+2069: they reorder the text around them in a log or a
terminal).  Anything else, spaces and emoji included, is allowed.  A
``match_id`` is also a URL path segment of the match child: letters, digits,
``-`` and ``_`` only.

The rule is a regular expression over code points (:data:`EXCLUDED`), so it
does not depend on the Unicode database of the Python that runs it.
:data:`Name` and :data:`MatchId` are the rule as ``msgspec`` types (validation
and JSON Schema in one); :func:`is_name` and :func:`name_problem` for code that
checks a single value (the match child, URL segments).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Optional

from msgspec import Meta

from rpsa.rules.game import VALID_ROUNDS

MAX_LENGTH = 64

# The excluded code points, as regular-expression class ranges.
EXCLUDED = "\\x00-\\x1f\\x7f-\\x9f\\u2028-\\u202e\\u2066-\\u2069\\ud800-\\udfff"
MATCH_ID_ALPHABET = "A-Za-z0-9_-"

DESCRIPTION = (
    f"1 to {MAX_LENGTH} characters of printable text: no control character (U+0000-U+001F, "
    "U+007F-U+009F), no lone surrogate, no line or paragraph separator, no bidirectional control "
    "(U+202A-U+202E, U+2066-U+2069)"
)
MATCH_ID_DESCRIPTION = f"1 to {MAX_LENGTH} letters, digits, '-' or '_'"

# msgspec checks a pattern with Python's re.search, where "$" also matches before a final
# newline (a match_id "m1\n" passed a pattern ending in "$"): these end in "\Z" instead
# (rpsa.contract.openapi writes them in the ECMA-262 form that JSON Schema uses).
NAME_PATTERN = f"^[^{EXCLUDED}]*\\Z"
MATCH_ID_PATTERN = f"^[{MATCH_ID_ALPHABET}]*\\Z"
NODE_NAME_DESCRIPTION = "1-64 letters, digits, '.', '_', '-' or ':'"
NODE_NAME_PATTERN = "^[A-Za-z0-9._:-]{1,64}\\Z"  # a cluster node's name (--node-name)
PATTERN_DESCRIPTIONS = {NAME_PATTERN: DESCRIPTION, MATCH_ID_PATTERN: MATCH_ID_DESCRIPTION,
                        NODE_NAME_PATTERN: NODE_NAME_DESCRIPTION}

Name = Annotated[str, Meta(min_length=1, max_length=MAX_LENGTH, pattern=NAME_PATTERN, description=DESCRIPTION)]
MatchId = Annotated[str, Meta(min_length=1, max_length=MAX_LENGTH, pattern=MATCH_ID_PATTERN,
                              description=MATCH_ID_DESCRIPTION)]
NodeName = Annotated[str, Meta(pattern=NODE_NAME_PATTERN, description=NODE_NAME_DESCRIPTION)]
Rounds = Literal[tuple(VALID_ROUNDS)]  # type: ignore[valid-type]

_NAME = re.compile(NAME_PATTERN)
_MATCH_ID = re.compile(MATCH_ID_PATTERN)


def name_problem(value: Any) -> Optional[str]:
    """Why ``value`` is not a valid id or name (a phrase to follow the field's name), or None if it is."""
    if type(value) is not str:
        return "must be a string"
    if not value:
        return "must not be empty"
    if len(value) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if _NAME.search(value) is None:
        return "must be " + DESCRIPTION
    return None


def is_name(value: Any) -> bool:
    """Whether ``value`` is a valid id or name."""
    return name_problem(value) is None


def is_match_id(value: Any) -> bool:
    """Whether ``value`` is a valid match id."""
    return is_name(value) and _MATCH_ID.search(value) is not None
