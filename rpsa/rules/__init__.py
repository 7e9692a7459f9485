"""The Rock Paper Scissors Apocalypse rules engine.

Pure Python: no Twisted, no clock, no global randomness.  A :class:`Game` only
advances when :meth:`Game.tick` is called, and returns the events each call
produced, in the exact shape the original engine emitted them.
"""

from rpsa.rules.errors import (
    GameFull,
    GameNotReady,
    InvalidWeapon,
    RulesError,
    UnknownFighter,
    UnknownPlayer,
)
from rpsa.rules.events import Event, GameEventType, RoundEventType
from rpsa.rules.fighters import FIGHTERS, Fighter
from rpsa.rules.game import Game, GameState, RoundState
from rpsa.rules.combat import WEAPON_NAMES, resolve_exchange

__all__ = [
    "FIGHTERS",
    "WEAPON_NAMES",
    "Event",
    "Fighter",
    "Game",
    "GameEventType",
    "GameFull",
    "GameNotReady",
    "GameState",
    "InvalidWeapon",
    "RoundEventType",
    "RoundState",
    "RulesError",
    "UnknownFighter",
    "UnknownPlayer",
    "resolve_exchange",
]
