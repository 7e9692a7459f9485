"""Exceptions raised when the rules engine is used in a way the rules forbid."""


class RulesError(ValueError):
    """Base class: the engine was asked to do something the rules do not allow."""


class UnknownFighter(RulesError):
    """A fighter id that is not in the fighter table."""


class InvalidWeapon(RulesError):
    """A weapon index outside 0..2 (or not an integer)."""


class GameNotReady(RulesError):
    """The match cannot start (or tick) yet: a seat is empty or a fighter unpicked."""


class GameFull(RulesError):
    """Both seats are taken; a third player cannot be added."""


class UnknownPlayer(RulesError):
    """A player id that holds no seat in this game."""
