"""Hooks through which games and connections report what happens.

:class:`ServerHooks` feed the metrics and the status (:mod:`rpsa.daemon.metrics`
implements them); :class:`GameEvents` are a game's lifecycle, in the order it happens
(:class:`rpsa.redis.varcade.VarcadeEvents` writes them to the Varcade event stream).
The base classes do nothing.
"""

import inspect
from typing import Callable, Dict, List, Optional, Tuple


class ServerHooks:
    """Called by connections, sessions and the lobby.  Every method is optional."""

    def opened(self, conn) -> None:
        """A WebSocket connection opened (``conn.role`` is player or spectator)."""

    def closed(self, conn) -> None:
        """A WebSocket connection closed."""

    def received(self) -> None:
        """A client message was accepted for processing."""

    def rejected(self, reason: str) -> None:
        """A client message was rejected (``size``, ``rate``, or ``invalid``: answered with an error)."""

    def game_completed(self, session) -> None:
        """A match ended with GAME_COMPLETE."""

    def lobby_changed(self, lobby) -> None:
        """The set of games, or a game's state, changed."""

    def tick_lag(self, seconds: float) -> None:
        """A tick ran ``seconds`` after it was due (the :class:`~rpsa.play.ticker.TickScheduler`'s; per tick: keep it cheap)."""


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


class RelayedEvents(GameEvents):
    """Passes every event on as ``send(name, [arguments])``: how a match child reports to its daemon
    (:mod:`rpsa.matches.stdio`'s ``Event:`` lines).

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
