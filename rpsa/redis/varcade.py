"""Game lifecycle events, and the Varcade portal's event stream that records them.

:class:`GameEvents` is the interface through which a game reports its lifecycle (the
base class does nothing); :class:`VarcadeEvents` implements it by appending the original
Varcade server's entries (:mod:`rpsa.redis.schema` documents them) to a
:class:`~rpsa.redis.stream.StreamWriter`.  Every method returns at once: nothing about
play waits on Redis.
"""

from __future__ import annotations

import inspect
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from rpsa.redis import schema


class GameEvents:
    """Told about each game's lifecycle.  Every method is optional; all ids are strings.

    ``weapon`` is the weapon index that counted (0 rock, 1 paper, 2 scissors), ``None`` for
    a botch.
    """

    def creator_joined(self, game_id: str) -> None:
        """The host's (player 1's) socket was accepted."""

    def all_players_joined(self, game_id: str) -> None:
        """Player 2's socket was accepted."""

    def fighter_selected(self, game_id: str, user_id: str, character_id: str) -> None:
        """A fighter pick was accepted."""

    def player_ready(self, game_id: str, user_id: str) -> None:
        """A player sent ``start_battle``."""

    def weapons_selected(self, game_id: str, p1_id: str, p1_weapon: Optional[int], p2_id: str,
                         p2_weapon: Optional[int]) -> None:
        """The engine resolved an exchange (WEAPONS_SELECTED)."""

    def round_started(self, game_id: str, p1_id: str, p2_id: str) -> None:
        """ROUND_STARTED."""

    def round_finished(self, game_id: str, winner_id: str, loser_id: str, p1_id: str, p2_id: str) -> None:
        """ROUND_FINISHED."""

    def game_over(self, game_id: str, winner_id: str, loser_id: str) -> None:
        """GAME_COMPLETE."""

    def player_disconnected(self, game_id: str, player_id: str) -> None:
        """Player 2's socket closed while the game goes on."""

    def game_removed(self, game_id: str) -> None:
        """The game was removed, for any reason."""


def _signatures() -> Dict[str, Tuple[str, ...]]:
    return {
        name: tuple(list(inspect.signature(method).parameters)[1:])
        for name, method in vars(GameEvents).items()
        if not name.startswith("_") and callable(method)
    }


#: Each event's name and the names of its arguments, in order.
EVENTS: Dict[str, Tuple[str, ...]] = _signatures()
WEAPON_ARGUMENTS = ("p1_weapon", "p2_weapon")
MAX_ID_LENGTH = 256


class RelayedEvents(GameEvents):
    """Passes every event on as ``send(name, [arguments])``: how a match child reports to its daemon.

    :param send: called with the event's name and its arguments (JSON-friendly: str, int, None).
    """

    def __init__(self, send: Callable[[str, List], None]):
        self._send = send


def _relay(name: str):
    def method(self, *args):
        self._send(name, list(args))

    method.__name__ = name
    method.__doc__ = getattr(GameEvents, name).__doc__
    return method


for _name in EVENTS:
    setattr(RelayedEvents, _name, _relay(_name))


def replay(events: GameEvents, name: str, args: Sequence) -> None:
    """Call ``events.<name>(*args)`` for an event relayed by :class:`RelayedEvents`.

    ValueError (calling nothing) for an unknown event, a wrong number of arguments, or an
    argument of the wrong type: ids are non-empty strings of at most 256 characters, a weapon
    is 0, 1, 2 or None.
    """
    if name not in EVENTS:
        raise ValueError(f"unknown game event {name!r}")
    params = EVENTS[name]
    if not isinstance(args, (list, tuple)) or len(args) != len(params):
        raise ValueError(f"game event {name!r} takes {len(params)} arguments ({', '.join(params)})")
    for param, value in zip(params, args):
        if param in WEAPON_ARGUMENTS:
            if value is not None and (type(value) is not int or value not in (0, 1, 2)):
                raise ValueError(f"game event {name!r}: {param} must be 0, 1, 2 or null")
        elif not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
            raise ValueError(f"game event {name!r}: {param} must be a non-empty string of at most "
                             f"{MAX_ID_LENGTH} characters")
    getattr(events, name)(*args)


class VarcadeEvents(GameEvents):
    """Writes each event as the original Varcade server's stream entry.

    :param writer: the :class:`~rpsa.redis.stream.StreamWriter` of ``--event-stream``.
    :param product_id: the portal's id for RPSA (``--product-id``; ``exrps`` in the Varcade portal).
    """

    def __init__(self, writer, product_id: str):
        self._append = writer.append
        self._product = product_id

    def creator_joined(self, game_id):
        self._append(schema.state_change(self._product, game_id, schema.CREATOR_JOINED))

    def all_players_joined(self, game_id):
        self._append(schema.state_change(self._product, game_id, schema.ALL_PLAYERS_JOINED))

    def fighter_selected(self, game_id, user_id, character_id):
        self._append(schema.gameplay(self._product, game_id, "select_fighter", character_id, user_id))

    def player_ready(self, game_id, user_id):
        self._append(schema.gameplay(self._product, game_id, "set_ready", "", user_id))

    def weapons_selected(self, game_id, p1_id, p1_weapon, p2_id, p2_weapon):
        for user_id, weapon in ((p1_id, p1_weapon), (p2_id, p2_weapon)):
            data = "" if weapon is None else str(weapon)
            self._append(schema.gameplay(self._product, game_id, "select_weapon", data, user_id))

    def round_started(self, game_id, p1_id, p2_id):
        self._append(schema.round_started(self._product, game_id, p1_id, p2_id))

    def round_finished(self, game_id, winner_id, loser_id, p1_id, p2_id):
        self._append(schema.round_finished(self._product, game_id, winner_id, loser_id, p1_id, p2_id))

    def game_over(self, game_id, winner_id, loser_id):
        self._append(schema.game_over(self._product, game_id, winner_id, loser_id))

    def player_disconnected(self, game_id, player_id):
        self._append(schema.player_disconnect(self._product, game_id, player_id))

    def game_removed(self, game_id):
        self._append(schema.game_removed(self._product, game_id))
