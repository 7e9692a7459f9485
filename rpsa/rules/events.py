"""The events the engine emits, with the original engine's numeric types and data fields."""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Dict, Optional

GAME_EVENT = "RPSGameEvent"
ROUND_EVENT = "RPSRoundEvent"


class GameEventType(IntEnum):
    """``RPSGameEvent`` types."""

    GAME_STARTED = 0
    GAME_COMPLETE = 1


class RoundEventType(IntEnum):
    """``RPSRoundEvent`` types."""

    ROUND_COUNTDOWN = 0
    WEAPON_COUNTDOWN = 1
    STATE_CHANGE = 2
    WEAPONS_SELECTED = 3
    ROUND_FINISHED = 4
    ROUND_STARTED = 5


class Event:
    """One engine event.

    ``classtype`` is ``"RPSGameEvent"`` or ``"RPSRoundEvent"``, ``type`` the
    event's number within its class, ``data`` its fields (``None`` where the
    original engine gave none, as for ROUND_STARTED).
    """

    __slots__ = ("classtype", "type", "data")

    def __init__(self, classtype: str, type: int, data: Optional[Dict[str, Any]] = None):
        self.classtype = classtype
        self.type = int(type)
        self.data = data

    @property
    def is_game_event(self) -> bool:
        """True for ``RPSGameEvent``."""
        return self.classtype == GAME_EVENT

    def to_wire(self) -> Dict[str, Any]:
        """The event as the original engine serialised it (``eventData`` on the wire)."""
        wire: Dict[str, Any] = {"type": self.type}
        if self.data is not None:
            wire["data"] = self.data
        wire["classtype"] = self.classtype
        return wire

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self.classtype, self.type, self.data) == (other.classtype, other.type, other.data)

    def __repr__(self) -> str:
        kind = (GameEventType if self.is_game_event else RoundEventType)(self.type).name
        return f"<Event {kind} {self.data!r}>"


def game_event(type: GameEventType, data: Dict[str, Any]) -> Event:
    """An ``RPSGameEvent``."""
    return Event(GAME_EVENT, type, data)


def round_event(type: RoundEventType, data: Optional[Dict[str, Any]] = None) -> Event:
    """An ``RPSRoundEvent``."""
    return Event(ROUND_EVENT, type, data)


def state_change(new: int, old: int) -> Event:
    """A STATE_CHANGE round event."""
    return Event(ROUND_EVENT, RoundEventType.STATE_CHANGE, {"newState": int(new), "oldState": int(old)})
