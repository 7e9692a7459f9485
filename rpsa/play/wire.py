"""The WebSocket wire format: server messages, close codes, and the client message parser.

The messages are the original Varcade RPSA server's (``docs/protocol.md`` is the
reference for humans; their JSON Schemas are generated from
:mod:`rpsa.contract.messages`, which names the message types and parses client
messages: ``parse_client_message`` and ``BadMessage`` are re-exported here);
rpsa adds ``welcome``, ``player_left`` and its own close codes.  Every server
message is encoded once, however many sockets receive it (into frames by
:class:`rpsa.play.frames.FramePreparer`).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Tuple

from rpsa.contract.messages import (  # noqa: F401 (re-exported)
    BOT_TAKEOVER,
    CLIENT_TYPES,
    ERROR,
    PLAYER_JOINED,
    PLAYER_LEFT,
    SELECT_FIGHTER,
    SELECT_WEAPON,
    START_BATTLE,
    SYNC,
    WELCOME,
    BadMessage,
    parse_client_message,
)
from rpsa.rules import Event

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
TOO_SLOW = 4106                # left more than --max-send-buffer unread
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
    TOO_SLOW: "not reading fast enough",
    NORMAL: "game complete",
}

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
