"""A log event as twistd's text line, fast, with what fields quote from clients escaped.

:func:`classic_text` is ``formatEventAsClassicLogText`` with ``str.format_map``
for plain events (:func:`plain_event`: a format that only names fields whose
values show as themselves) and the time formatted once a second
(:class:`SecondsFormatter`); :func:`escaped_fields` writes control characters
in fields as their escapes first (:func:`escape_controls`).  Used by
:mod:`rpsa.daemon.logs`' text observer (and its redaction, which skips
flattening plain events).
"""

from __future__ import annotations

import functools
import re
import string
from typing import Callable, Optional

from twisted.logger import formatEventAsClassicLogText, formatTime


# Values a format shows as themselves once scrubbed (no __format__ or __str__ of an object in between).
_PLAIN_VALUES = (str, int, float, bool, type(None))


@functools.lru_cache(maxsize=1024)
def plain_fields(log_format: str) -> Optional[tuple]:
    """The field names of a format that only names fields (``{game_id}``, ``{n:.1f}``), or None.

    None: it reaches into objects (``{a.b}``, ``{a[0]}``), converts (``{a!r}``), calls (``{f()}``) or
    nests fields in a spec.  Formats come from the code's log calls, a small set: the answers are cached.
    """
    names = []
    try:
        parsed = list(string.Formatter().parse(log_format))
    except ValueError:
        return None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if conversion or not name.isidentifier() or (spec and "{" in spec):
            return None
        names.append(name)
    return tuple(names)


def plain_event(event: dict) -> bool:
    """Whether ``event``'s format only names fields whose values show as themselves (see :func:`plain_fields`)."""
    log_format = event.get("log_format")
    if type(log_format) is not str or "log_flattened" in event:
        return False
    plain = plain_fields(log_format)
    return plain is not None and all(type(event.get(name)) in _PLAIN_VALUES for name in plain)


# What must not reach a text log raw from a field: control characters (a newline
# and a timestamp in a username wrote a line that read as the server's own; ESC
# sequences drive terminals), line separators and bidi controls.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    """``text`` with each control character written as its Python escape (``\\n``, ``\\x1b``)."""
    return _CONTROLS.sub(lambda m: repr(m.group())[1:-1], text)


def escaped_fields(event: dict) -> dict:
    """``event``, or a copy whose string fields (the values a format shows) have their controls escaped.

    The copy is made only when a field has a control character (most events have none).
    """
    out = event
    for key, value in event.items():
        if type(value) is str and not key.startswith("log_") and _CONTROLS.search(value):
            if out is event:
                out = dict(event)
            out[key] = escape_controls(value)
    flattened = event.get("log_flattened")
    if flattened and any(type(value) is str and _CONTROLS.search(value) for value in flattened.values()):
        if out is event:
            out = dict(event)
        out["log_flattened"] = {key: escape_controls(value) if type(value) is str else value
                                for key, value in flattened.items()}
    return out


class SecondsFormatter:
    """``format_time`` (``twisted.logger.formatTime``) remembering the last whole second it formatted.

    The format has no fraction, so a second's text is formatted once, not once a line (about 4 µs a line).
    """

    def __init__(self, format_time: Callable[[Optional[float]], str] = formatTime):
        self._format_time = format_time
        self._second: Optional[int] = None
        self._text = ""

    def __call__(self, when: Optional[float]) -> str:
        if when is None:
            return self._format_time(when)
        second = int(when // 1)
        if second != self._second:
            self._text = self._format_time(second)
            self._second = second
        return self._text


def classic_text(event: dict, format_time: Callable[[Optional[float]], str]) -> Optional[str]:
    """``formatEventAsClassicLogText(event, format_time)``, with ``str.format_map`` for plain events.

    Twisted formats through ``string.Formatter`` in Python (for ``{f()}`` calls; about 6 µs an event); a
    plain event (named fields, each a str, number, bool or None; no failure) formats the same with
    ``str.format_map``.  Anything else, or that does not format, goes to Twisted's formatter.
    """
    if "log_failure" in event or not plain_event(event):
        return formatEventAsClassicLogText(event, formatTime=format_time)
    try:
        text = event["log_format"].format_map(event)
    except Exception:
        return formatEventAsClassicLogText(event, formatTime=format_time)
    if not text:
        return None
    system = event.get("log_system")
    if system is None:
        level = event.get("log_level")
        system = f"{event.get('log_namespace', '-')}#{'-' if level is None else level.name}"
    else:
        try:
            system = str(system)
        except Exception:
            system = "UNFORMATTABLE"
    return f"{format_time(event.get('log_time'))} [{system}] {text}".replace("\n", "\n\t") + "\n"


