"""The WebSocket wire format: server messages, client message parsing, close codes.

The messages are the original Varcade RPSA server's (``docs/protocol.md`` is the
reference for humans); rpsa adds ``welcome``, ``player_left`` and its own close
codes.  Every server message is encoded once, however many sockets receive it
(into frames by :class:`rpsa.play.fastpath.FramePreparer`).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Dict, Optional, Tuple

from rpsa.rules import FIGHTERS, Event

# Close and error codes of the original server.
HOST_NOT_CONNECTED = 4000      # close: player 2 connected before the host
REPLACED = 4001                # close: a newer connection took this seat
HOST_DISCONNECTED = 4002       # error message, then close: the game is gone
OPPONENT_DISCONNECTED = 4003   # error message: player 2 left, the game is open again

# rpsa's own close codes.
GAME_REMOVED = 4100            # the game was removed (by an operator or the API)
PLAYER_REMOVED = 4101          # this player was removed from the game
MESSAGE_TOO_BIG = 4102         # a message over --max-message-bytes
TOO_MANY_MESSAGES = 4103       # over --max-messages-per-second
SHUTTING_DOWN = 4104           # the server is stopping
GAME_ABANDONED = 4105          # the match ended because a player never came or left for good
NORMAL = 1000                  # after GAME_COMPLETE

CLOSE_REASONS = {
    HOST_NOT_CONNECTED: "host not connected yet",
    REPLACED: "player already connected: replaced by a newer connection",
    HOST_DISCONNECTED: "host disconnected",
    OPPONENT_DISCONNECTED: "opponent disconnected",
    GAME_REMOVED: "game removed",
    PLAYER_REMOVED: "removed from the game",
    MESSAGE_TOO_BIG: "message too big",
    TOO_MANY_MESSAGES: "too many messages",
    SHUTTING_DOWN: "server shutting down",
    GAME_ABANDONED: "match abandoned",
    NORMAL: "game complete",
}

# Message types (the ``"type"`` field), each named once.  A client sends the
# first three; the server answers a fighter pick with SELECT_FIGHTER too.
SELECT_FIGHTER = "select_fighter"
START_BATTLE = "start_battle"
SELECT_WEAPON = "select_weapon"
PLAYER_JOINED = "player_joined"
SYNC = "sync"
ERROR = "error"
PLAYER_LEFT = "player_left"
WELCOME = "welcome"
BOT_TAKEOVER = "bot_takeover"

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode(message: Dict[str, Any]) -> bytes:
    """A message as the UTF-8 JSON text sent in one WebSocket text frame."""
    return _encoder.encode(message).encode("utf-8")


def player_joined(p1: Optional[Tuple[str, str]], p2: Optional[Tuple[str, str]]) -> Dict[str, Any]:
    """``player_joined``: both seats' ids and names (``None`` for an empty seat)."""
    return {
        "type": PLAYER_JOINED,
        "gameData": {
            "p1Id": p1[0] if p1 else None,
            "p1Name": p1[1] if p1 else None,
            "p2Id": p2[0] if p2 else None,
            "p2Name": p2[1] if p2 else None,
        },
    }


def fighter_selected(user_id: str, fighter_id: str) -> Dict[str, Any]:
    """``select_fighter``: a player's pick, sent only to those allowed to see it."""
    return {"type": SELECT_FIGHTER, "gameData": {"playerId": user_id, "selectedCharacterId": fighter_id}}


def engine_event(event: Event) -> Dict[str, Any]:
    """An engine event as the original server sent it."""
    return {"type": event.classtype, "eventData": event.to_wire()}


def sync_payload(health) -> bytes:
    """``sync``, both fighters' health, encoded: ``{"type":"sync","gameData":{"p1Health":…,"p2Health":…}}``.

    Formatted directly, as it is sent after every STATE_CHANGE of every game;
    health figures are ints or finite floats, which JSON writes as ``repr`` does.
    """
    return b'{"type":"sync","gameData":{"p1Health":%b,"p2Health":%b}}' % (
        repr(health[0]).encode(), repr(health[1]).encode())


def error(code, message: str) -> Dict[str, Any]:
    """``error``: an integer code (4002, 4003) or a snake_case string code."""
    return {"type": ERROR, "code": code, "message": message}


def player_left(user_id: str, grace: float) -> Dict[str, Any]:
    """``player_left``: a player's connection dropped; the seat is held for ``grace`` seconds."""
    return {"type": PLAYER_LEFT, "userId": user_id, "reconnectGrace": grace}


def bot_takeover(user_id: str) -> Dict[str, Any]:
    """``bot_takeover``: the player's grace ran out mid-match; a bot plays the seat (until they come back)."""
    return {"type": BOT_TAKEOVER, "userId": user_id}


class BadMessage(ValueError):
    """A client message that cannot be acted on; ``code`` is sent back to the client."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


CLIENT_TYPES = (SELECT_FIGHTER, START_BATTLE, SELECT_WEAPON)


@functools.lru_cache(maxsize=256)
def parse_client_message(payload: bytes, is_binary: bool) -> Tuple[str, Any]:
    """Parse and validate one client message: returns ``(type, argument)``.

    Clients send the same few small messages over and over, so results are
    memoised (by the exact bytes; errors are raised afresh every time).

    ``argument`` is the fighter id for ``select_fighter``, the weapon index for
    ``select_weapon`` and ``None`` for ``start_battle``.  Raises BadMessage.
    """
    if is_binary:
        raise BadMessage("invalid_json", "messages must be JSON text, not binary")
    try:
        message = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: nesting deeper than the parser allows ("[[[[...").
        raise BadMessage("invalid_json", "message is not valid JSON") from None
    if not isinstance(message, dict):
        raise BadMessage("invalid_message", "message must be a JSON object")
    kind = message.get("type")
    if kind == SELECT_WEAPON:
        index = message.get("index")
        if type(index) is not int or not 0 <= index <= 2:
            raise BadMessage("bad_field", "select_weapon needs 'index': 0 (rock), 1 (paper) or 2 (scissors)")
        return kind, index
    if kind == SELECT_FIGHTER:
        fighter = message.get("characterId")
        if not isinstance(fighter, str) or fighter not in FIGHTERS:
            raise BadMessage("bad_field", f"select_fighter needs 'characterId', one of {', '.join(FIGHTERS)}")
        return kind, fighter
    if kind == START_BATTLE:
        return kind, None
    if not isinstance(kind, str):
        raise BadMessage("unknown_type", "message needs a string 'type'")
    raise BadMessage("unknown_type", f"unknown message type {kind[:40]!r}; expected one of {', '.join(CLIENT_TYPES)}")
