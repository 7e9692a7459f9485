"""The daemon <-> match child line protocol, both directions: the only description of it, and its code.

The daemon runs ``python -m rpsa.matches.child`` (its own interpreter) with an
explicit copy of its environment, and talks to it over the child's standard
streams.  Operators may need this when debugging a child; clients never see it.

**stdin, daemon to child**: one JSON object per line, each at most
:data:`MAX_LINE` bytes (a longer one makes the child fail with ``bad_input``).

1. The server config (:func:`decode_config`): the game settings
   (:class:`rpsa.play.settings.GameSettings` as JSON; ``join_timeout`` from
   ``--match-join-timeout``), ``ports`` ``[min, max]`` from ``--match-ports``
   and ``interface`` from ``--match-interface``, e.g.
   ``{"tick":1.0,"reconnect_grace":10.0,"join_timeout":60.0,"max_spectators":100,
   "max_message_bytes":4096,"max_messages_per_second":20,"close_delay":3.0,
   "ping_interval":15.0,"ports":[9000,9099],"interface":"127.0.0.1"}``.
   The child binds the first free port of the range.  ``"events": true`` (only
   when the daemon writes an event stream) asks for ``Event:`` lines.
2. The match (:func:`decode_match`), right after the config for a cold launch,
   or later for a *warm* child spawned before its match was known:
   ``{"match_id":"m1","rounds":1,"players":[{"user_id":"alice","username":"Alice",
   "token":"..."},{"user_id":"bob","username":"Bob","token":"..."}]}``.
   Tokens reach the child only this way, never on its command line.

Further lines are ignored.  The daemon never closes the child's stdin while the
child runs: **EOF on stdin means the daemon is gone** (e.g. killed with
SIGKILL); the child then closes its connections with 4104 and exits 0 without
writing a result (there is nobody left to read it).

**stdout, child to daemon**: ``Kind: text`` lines (:func:`report_line`), read
by :func:`parse_report`:

- ``Port: 9000``: once, when listening; the launch succeeds (state ``waiting``).
- ``Error: code: message`` (the ``code: `` part is optional; the default code is
  ``child_error``): the child cannot start: ``bad_config``, ``no_free_port``,
  ``bad_match``, ``bad_input`` (a stdin line over :data:`MAX_LINE`),
  ``internal_error``.  Before ``Port:`` the launch fails with that code; after
  it the line is only logged.  A port outside 1..65535 counts as ``bad_port``.
- ``Status: {"state":"waiting","players":[{"user_id":"alice","connected":false},...]}``:
  on every change of a connection or of the state (:data:`WAITING` or
  :data:`PLAYING`), without repeats; updates the match record.
- ``Result: {"winner":"alice","loser":"bob","round_wins":{"alice":1,"bob":0}}``
  once at GAME_COMPLETE (with ``"finished_by_bot":["bob"]`` when a bot finished
  the match for players who left, ``--bot-takeover``), or ``Result: {"reason":"abandoned","user_id":"bob"}``
  once when a seat is lost (the ``user_id`` is not kept), or
  ``Result: {"reason":"stopped"}`` once on SIGTERM: the match has ended.
- ``Event: {"name":"creator_joined","args":["m1"]}``: with ``"events": true``,
  one line per lifecycle event of the match's game, in order (the names and
  arguments of :class:`rpsa.play.hooks.GameEvents`; the game id is the match
  id; ``game_removed`` comes at GAME_COMPLETE, or when the match ends
  otherwise), even after ``Result:``; :func:`decode_event` checks them.

``Status:``, ``Result:`` and ``Event:`` lines before ``Port:`` are ignored; any other line is
noise (logged at debug level); a line over :data:`MAX_LINE` is dropped.

**stderr** carries the child's log; the daemon logs it (see
:mod:`rpsa.matches.process` for its bounds) and keeps the last line for error
messages.

**Exit status**: :data:`EXIT_OK` (0) after a match (played, abandoned, stopped,
or daemon gone); :data:`EXIT_ERROR` (1) for ``no_free_port`` and
``internal_error``; :data:`EXIT_BAD_INPUT` (2) for ``bad_config``,
``bad_match``, ``bad_input``.  A child that exits after its port without a
``Result:`` line makes its match ``failed`` (``child_exited``), whatever its
exit status.

**Match states** are defined here once: the child reports :data:`WAITING` and
:data:`PLAYING`; the daemon's match records (:mod:`rpsa.matches.launcher`, which
says what each state means) add :data:`STARTING`, :data:`ENDED` and
:data:`FAILED`.

Both ends split their input with :class:`LineBuffer` and raise or report
:class:`ChildError`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple

from rpsa.play.hooks import EVENTS
from rpsa.rules.game import VALID_ROUNDS

# The longest line either end accepts, without its newline.
MAX_LINE = 64 * 1024

# The child's exit statuses.
EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT = 0, 1, 2

# The kinds of stdout line.
PORT, ERROR, STATUS, RESULT, EVENT = "Port", "Error", "Status", "Result", "Event"

# Match states: the child reports WAITING and PLAYING; the daemon's record adds the others.
STARTING, WAITING, PLAYING, ENDED, FAILED = "starting", "waiting", "playing", "ended", "failed"
RUNNING_STATES = (WAITING, PLAYING)  # the child holds its port and the match is not over
LIVE_STATES = (STARTING, *RUNNING_STATES)  # the match is not over
UNSTARTED_STATES = (STARTING, WAITING)  # the match has not started

DEFAULT_ERROR_CODE = "child_error"

# Error messages from a child are cut to this many characters.
MAX_MESSAGE = 500

_PORT_LINE = re.compile(rb"^Port:\s(\d+)\n?")
_ERROR_LINE = re.compile(rb"^Error:\s(?:([a-z][a-z0-9_]*):\s)?(.*)", re.S)
_JSON_LINE = re.compile(rb"^(Status|Result|Event):\s(.*)", re.S)


class ChildError(Exception):
    """A child that cannot start: a snake_case ``code``, a human ``message``, and the child's ``exit_status``."""

    def __init__(self, code: str, message: str, exit_status: int = EXIT_ERROR):
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.exit_status = exit_status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# -- daemon to child ------------------------------------------------------------


def encode_line(value: Any) -> bytes:
    """``value`` (the config or the match) as one compact JSON line; raises ``TypeError``/``ValueError`` if it is not JSON."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n"


def decode_config(line: bytes) -> Dict[str, Any]:
    """The server config line, validated; raises :class:`ChildError` ``bad_config``."""
    try:
        config = json.loads(line)
    except ValueError:
        raise ChildError("bad_config", "the config line is not JSON", EXIT_BAD_INPUT) from None
    if not isinstance(config, dict):
        raise ChildError("bad_config", "the config line must be a JSON object", EXIT_BAD_INPUT)
    ports = config.get("ports")
    if (
        not isinstance(ports, list) or len(ports) != 2
        or not all(type(p) is int and 1 <= p <= 65535 for p in ports) or ports[0] > ports[1]
    ):
        raise ChildError("bad_config", "'ports' must be [min, max] within 1..65535", EXIT_BAD_INPUT)
    if not isinstance(config.get("interface", "127.0.0.1"), str):
        raise ChildError("bad_config", "'interface' must be a string", EXIT_BAD_INPUT)
    return config


def _is_player(player: Any) -> bool:
    return isinstance(player, dict) and all(
        isinstance(player.get(key), str) and player.get(key) for key in ("user_id", "username", "token")
    )


def decode_match(line: bytes) -> Dict[str, Any]:
    """The match line, validated (``rounds`` defaults to 3); raises :class:`ChildError` ``bad_match``.

    The daemon validated the match too; this is the child's backstop.
    """
    try:
        match = json.loads(line)
    except ValueError:
        raise ChildError("bad_match", "the match line is not JSON", EXIT_BAD_INPUT) from None
    players = match.get("players") if isinstance(match, dict) else None
    if (
        not isinstance(players, list) or len(players) != 2 or not all(_is_player(p) for p in players)
        or players[0]["user_id"] == players[1]["user_id"]
    ):
        raise ChildError(
            "bad_match", "'players' must be two distinct players with user_id, username and token", EXIT_BAD_INPUT
        )
    if not isinstance(match.get("match_id"), str):
        raise ChildError("bad_match", "'match_id' must be a string", EXIT_BAD_INPUT)
    if match.setdefault("rounds", 3) not in VALID_ROUNDS or type(match["rounds"]) is not int:
        raise ChildError("bad_match", "'rounds' must be an odd integer from 1 to 9", EXIT_BAD_INPUT)
    return match


# -- child to daemon ------------------------------------------------------------


def report_line(kind: str, text: str) -> bytes:
    """One stdout line of the child: ``Kind: text``."""
    return f"{kind}: {text}\n".encode("utf-8")


def json_report(kind: str, payload: Dict[str, Any]) -> bytes:
    """A ``Status:``, ``Result:`` or ``Event:`` line carrying ``payload``."""
    return report_line(kind, json.dumps(payload, separators=(",", ":")))


def error_report(error: ChildError) -> bytes:
    """The ``Error: code: message`` line of ``error``."""
    return report_line(ERROR, str(error))


def text_of(raw: bytes, limit: int = MAX_MESSAGE) -> str:
    """``raw`` as text for a message or a log line: decoded leniently, without its newline, cut to ``limit``."""
    return raw.decode("utf-8", "replace").rstrip("\r\n")[:limit]


def parse_report(line: bytes) -> Tuple[str, Any]:
    """Classify one complete stdout line of a child.

    Returns one of ``("port", int)``, ``("error", ChildError)``,
    ``("status", dict)``, ``("result", dict)``, ``("event", dict)``,
    ``("malformed", str)`` (a status, result or event line whose payload is
    not a JSON object) or ``("noise", str)``.
    """
    match = _PORT_LINE.match(line)
    if match:
        port = int(match.group(1))
        if not 0 < port < 65536:
            return "error", ChildError("bad_port", f"child reported port {port}")
        return "port", port
    match = _ERROR_LINE.match(line)
    if match:
        code = match.group(1).decode("ascii") if match.group(1) else DEFAULT_ERROR_CODE
        return "error", ChildError(code, text_of(match.group(2)))
    match = _JSON_LINE.match(line)
    if match:
        kind = match.group(1).decode("ascii").lower()
        try:
            payload = json.loads(match.group(2))
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return "malformed", f"{kind} line is not a JSON object: {text_of(match.group(2), 200)!r}"
        return kind, payload
    return "noise", text_of(line, 200)


WEAPON_ARGUMENTS = ("p1_weapon", "p2_weapon")


def event_report(name: str, args: List[Any]) -> bytes:
    """The ``Event:`` line of one lifecycle event."""
    return json_report(EVENT, {"name": name, "args": args})


def decode_event(payload: Dict[str, Any]) -> Tuple[str, List[Any]]:
    """``(name, args)`` of an ``Event:`` payload, checked; ValueError if it is not a valid event.

    Ids are non-empty strings of at most :data:`MAX_MESSAGE` characters; a weapon is 0, 1,
    2 or ``null`` (a botch).
    """
    name, args = payload.get("name"), payload.get("args")
    if name not in EVENTS:
        raise ValueError(f"unknown game event {name!r}")
    params = EVENTS[name]
    if not isinstance(args, list) or len(args) != len(params):
        raise ValueError(f"game event {name!r} takes {len(params)} arguments ({', '.join(params)})")
    for param, value in zip(params, args):
        if param in WEAPON_ARGUMENTS:
            if value is not None and (type(value) is not int or value not in (0, 1, 2)):
                raise ValueError(f"game event {name!r}: {param} must be 0, 1, 2 or null")
        elif not isinstance(value, str) or not value or len(value) > MAX_MESSAGE:
            raise ValueError(f"game event {name!r}: {param} must be a non-empty string")
    return name, args


# -- framing, both ends -----------------------------------------------------------


class LineBuffer:
    """Splits a byte stream into lines, dropping any line longer than ``max_length`` (default :data:`MAX_LINE`).

    A dropped line comes out as ``None``.  The work done per chunk is
    proportional to the chunk, however the stream is split.
    """

    def __init__(self, max_length: int = MAX_LINE):
        self._max = max_length
        self._buffer = bytearray()
        self._dropping = False

    def feed(self, data: bytes) -> List[Optional[bytes]]:
        """Add ``data``; return the lines it completed, without their ``\\n``."""
        lines: List[Optional[bytes]] = []
        if b"\n" not in data:
            self._append(data, lines)
            return lines
        head, *middle, tail = data.split(b"\n")
        self._append(head, lines)
        if not self._dropping:
            lines.append(bytes(self._buffer))
        self._buffer.clear()
        self._dropping = False
        lines.extend(None if len(line) > self._max else line for line in middle)
        self._append(tail, lines)
        return lines

    def close(self) -> List[bytes]:
        """End of stream: return the unterminated last line, if any."""
        rest = [] if self._dropping or not self._buffer else [bytes(self._buffer)]
        self._buffer.clear()
        self._dropping = False
        return rest

    def _append(self, data: bytes, lines: List[Optional[bytes]]) -> None:
        if self._dropping:
            return
        if len(self._buffer) + len(data) > self._max:
            self._buffer.clear()
            self._dropping = True
            lines.append(None)
        else:
            self._buffer += data
