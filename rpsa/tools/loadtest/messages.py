"""The WebSocket messages the load tester sends and recognises, named from rpsa's own definitions.

Message type names and event numbers come from :mod:`rpsa.play.wire` and
:mod:`rpsa.rules` (the one place each is stated); the original server speaks the
same messages, so they serve the ``--compat`` routes as well.
"""

from __future__ import annotations

from typing import Any, Dict

from rpsa.play import wire
from rpsa.rules import GameEventType, RoundEventType
from rpsa.rules.events import GAME_EVENT, ROUND_EVENT
from rpsa.rules.round import RoundState

# What a client sends, and what the server sends (rpsa.play.wire names each type once).
SELECT_FIGHTER, START_BATTLE, SELECT_WEAPON = wire.SELECT_FIGHTER, wire.START_BATTLE, wire.SELECT_WEAPON
PLAYER_JOINED = wire.PLAYER_JOINED
FIGHTER_SELECTED = wire.SELECT_FIGHTER
SYNC = wire.SYNC
ERROR = wire.ERROR

# The engine events the load tester acts on.
GAME_STARTED = GameEventType.GAME_STARTED
GAME_COMPLETE = GameEventType.GAME_COMPLETE
WEAPON_COUNTDOWN = RoundEventType.WEAPON_COUNTDOWN
STATE_CHANGE = RoundEventType.STATE_CHANGE
# STATE_CHANGE PROCESSING_RESULT -> WAITING_FOR_WEAPON_SELECTION comes after a silent server tick.
AFTER_SILENT_TICK = (RoundState.PROCESSING_RESULT, RoundState.WAITING_FOR_WEAPON_SELECTION)

# Close code and reason a client sends after GAME_COMPLETE, as the server does.
NORMAL_CLOSE = wire.NORMAL
NORMAL_CLOSE_REASON = wire.CLOSE_REASONS[wire.NORMAL]

encode = wire.encode

__all__ = [
    "AFTER_SILENT_TICK", "ERROR", "FIGHTER_SELECTED", "GAME_COMPLETE", "GAME_EVENT", "GAME_STARTED",
    "NORMAL_CLOSE", "NORMAL_CLOSE_REASON", "PLAYER_JOINED", "ROUND_EVENT", "SELECT_FIGHTER", "SELECT_WEAPON",
    "START_BATTLE", "STATE_CHANGE", "SYNC", "WEAPON_COUNTDOWN", "encode", "event_type", "select_fighter",
    "select_weapon", "start_battle",
]


def select_fighter(fighter_id: str) -> Dict[str, Any]:
    """``select_fighter``: pick a fighter."""
    return {"type": SELECT_FIGHTER, "characterId": fighter_id}


def start_battle() -> Dict[str, Any]:
    """``start_battle``: this player is ready."""
    return {"type": START_BATTLE}


def select_weapon(index: int) -> Dict[str, Any]:
    """``select_weapon``: 0 (rock), 1 (paper) or 2 (scissors)."""
    return {"type": SELECT_WEAPON, "index": index}


def event_type(message: Dict[str, Any]) -> Any:
    """The numeric type of an engine event message's ``eventData``, or None if it has none."""
    ev = message.get("eventData")
    return ev.get("type") if isinstance(ev, dict) else None
