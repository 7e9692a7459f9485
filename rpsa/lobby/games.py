"""The lobby: every game in this process, created, joined and removed over HTTP.

The lobby is the owner of its sessions and applies the original server's rules
when a seat is lost: the host gone removes the game (player 2 is told 4002),
player 2 gone reopens it (the host is told 4003).
"""

from __future__ import annotations

import secrets
from types import SimpleNamespace
from typing import Dict, Iterable, List, Optional, Set, Tuple

from twisted.logger import Logger

from rpsa.play import wire
from rpsa.rules import GameFull, RulesError
from rpsa.play.seat import Seat, SeatTaken
from rpsa.play.session import GameSession, SessionOwner
from rpsa.play.heartbeat import Heartbeat
from rpsa.play.hooks import GameEvents, ServerHooks
from rpsa.play.settings import GameSettings
from rpsa.play.frames import FramePreparer
from rpsa.play.websocket import GameConnectionFactory, SessionFactory

log = Logger()


class LobbyError(Exception):
    """A lobby request that cannot be done; ``code`` is a snake_case name, ``message`` says why."""

    code = "lobby_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NoSuchGame(LobbyError):
    code = "game_not_found"


class GameExists(LobbyError):
    code = "game_exists"


class LobbyFull(LobbyError):
    code = "too_many_games"


class SeatsFull(LobbyError):
    code = "game_full"


class AlreadySeated(LobbyError):
    code = "already_joined"


class NoSuchPlayer(LobbyError):
    code = "player_not_found"


class HostCannotBeRemoved(LobbyError):
    code = "cannot_remove_host"


class Draining(LobbyError):
    code = "draining"


class NoBots(LobbyError):
    code = "bots_off"


class LobbyObserver:
    """Told about each game of the lobby as it changes (the cluster mirrors them); a no-op here."""

    def game_changed(self, session: GameSession) -> None:
        """A game was created or changed (seats, connections, state, spectators)."""

    def game_removed(self, game_id: str) -> None:
        """A game left the lobby."""


class Lobby(SessionOwner):
    """All games of this process, by id, and their seats, by token.

    ``reactor``: the reactor (time, and the games' WebSocket factory);
    ``settings``: every game's :class:`~rpsa.play.settings.GameSettings`;
    ``scheduler``: the :class:`~rpsa.play.ticker.TickScheduler` ticking the
    games; ``max_games``: most games held at once; ``hooks``: the
    :class:`~rpsa.play.hooks.ServerHooks` told about games and connections;
    ``draining``: an object whose ``active`` attribute is true while the server
    drains (new games and joins are refused then); None: never.  ``bots`` (a
    :class:`rpsa.bots.roster.Bots`) seats the computer opponent of games
    created with ``bot_level`` and finishes matches for players who left
    (``settings.bot_takeover``); None turns both off.  ``events``: the
    :class:`~rpsa.play.hooks.GameEvents` every game reports its lifecycle to
    (``game_removed`` from here, when a game leaves the lobby).  ``observer``:
    the :class:`LobbyObserver` told about each game's changes (None: nobody).
    """

    def __init__(self, reactor, settings: GameSettings, scheduler, max_games: int = 10000, hooks=None,
                 draining=None, bots=None, events=None, observer=None):
        self.heartbeat = Heartbeat(reactor, settings.ping_interval)  # one for every game's connections
        self.frames = FramePreparer()  # one for every game's messages
        self._reactor = reactor
        self.settings = settings
        self._scheduler = scheduler
        self.max_games = max_games
        self.hooks = hooks or ServerHooks()
        self.bots = bots
        self.events = events or GameEvents()
        self.observer = observer if observer is not None else LobbyObserver()
        self.games: Dict[str, GameSession] = {}
        self._tokens: Dict[str, Tuple[GameSession, Seat]] = {}
        self._finishing: Set[GameSession] = set()  # completed, connections not yet closed
        self.websocket_factory = GameConnectionFactory(reactor, settings, self.hooks, self.heartbeat)  # every game's
        self._draining = draining if draining is not None else SimpleNamespace(active=False)

    # -- requests ------------------------------------------------------------

    def create(self, user_id: str, username: str, game_id: Optional[str] = None, rounds: int = 3,
               bot_level: Optional[str] = None, linger: Optional[float] = None,
               shared_token: bool = False) -> Tuple[GameSession, Seat]:
        """Create a game with ``user_id`` as its host (seat 1); with ``bot_level``, a bot of that level takes seat 2.

        ``linger`` and ``shared_token``: the session's ``close_delay`` and ``shared_token``
        (the original's routes; see :class:`~rpsa.play.session.GameSession`).
        """
        if bot_level is not None and self.bots is None:
            raise NoBots("this server has no bots")
        if self._draining.active:
            raise Draining("the server is draining: no new games")
        if game_id is not None and game_id in self.games:
            raise GameExists(f"game {game_id!r} already exists")
        if len(self.games) >= self.max_games:
            raise LobbyFull(f"the server holds its maximum of {self.max_games} games")
        if game_id is None:
            game_id = secrets.token_urlsafe(9)
            while game_id in self.games:  # pragma: no cover - 72 random bits
                game_id = secrets.token_urlsafe(9)
        # A bot opponent connects at once, before the host: the host-first rule would refuse it.
        session = GameSession(game_id, rounds, self._reactor, self.settings, self._scheduler, self.frames, owner=self,
                              host_first=bot_level is None, bots=self.bots, events=self.events, close_delay=linger,
                              shared_token=shared_token)
        seat = session.add_seat(user_id, username)
        self.games[game_id] = session
        self._tokens[seat.token] = (session, seat)
        log.info("game {game_id} created (best of {rounds})", game_id=game_id, rounds=rounds)
        if bot_level is not None:
            bot_id, bot_name = self.bots.identity(bot_level, [user_id])
            self.bots.seat(session, session.add_seat(bot_id, bot_name), bot_level)
        self._changed(session)
        return session, seat

    def join(self, game_id: str, user_id: str, username: str) -> Tuple[GameSession, Seat]:
        """Seat ``user_id`` as player 2."""
        if self._draining.active:
            raise Draining("the server is draining: no new players")
        session = self.get(game_id)
        if session.seat_for_user(user_id) is not None:
            raise AlreadySeated(f"user {user_id!r} already has a seat in game {game_id!r}")
        try:
            seat = session.add_seat(user_id, username)
        except GameFull:
            raise SeatsFull(f"game {game_id!r} is full") from None
        except SeatTaken as e:  # pragma: no cover - checked above
            raise AlreadySeated(str(e)) from None
        self._tokens[seat.token] = (session, seat)
        log.info("player 2 joined game {game_id}", game_id=game_id)
        return session, seat

    def get(self, game_id: str) -> GameSession:
        """The live game with this id, or raise NoSuchGame."""
        session = self.games.get(game_id)
        if session is None:
            raise NoSuchGame(f"no game {game_id!r}")
        return session

    def factory(self, game_id: str) -> SessionFactory:
        """What builds WebSocket connections to the live game with this id, or raise NoSuchGame.

        Every game's connections come from the one :attr:`websocket_factory`
        (an Autobahn factory per game cost about half of a create and join,
        and 2.5 KB of every connected game's memory).
        """
        return SessionFactory(self.websocket_factory, self.get(game_id))

    def find_token(self, token: str) -> Optional[Tuple[GameSession, Seat]]:
        """The session and seat a token opens, or None."""
        return self._tokens.get(token)

    def list(self, joinable_only: bool = False) -> List[GameSession]:
        """Live games, oldest first."""
        games: Iterable[GameSession] = self.games.values()
        if joinable_only:
            games = (g for g in games if g.joinable)
        return list(games)

    def remove(self, game_id: str, code: int = wire.GAME_REMOVED, reason: Optional[str] = None) -> None:
        """Remove a game and close its connections with ``code``."""
        session = self.get(game_id)
        session.close(code, reason or wire.CLOSE_REASONS.get(code, "game removed"))

    def remove_player(self, game_id: str, user_id: str) -> None:
        """Remove player 2 (the original's semantics: 4003 to the host, the game open again)."""
        session = self.get(game_id)
        seat = session.seat_for_user(user_id)
        if seat is None:
            raise NoSuchPlayer(f"user {user_id!r} has no seat in game {game_id!r}")
        if seat.number == 1:
            raise HostCannotBeRemoved("the host cannot be removed; remove the game instead")
        self._release(session, seat, wire.PLAYER_REMOVED)

    def close_all(self, code: int, reason: str) -> None:
        """Close every game (shutdown); completed games still showing their result close with 1000."""
        for session in list(self._finishing):
            session.close(wire.NORMAL, wire.CLOSE_REASONS[wire.NORMAL])
        for session in list(self.games.values()):
            session.close(code, reason)

    def connections(self) -> List:
        """Every open connection of every game, finished or not."""
        sessions = [*self.games.values(), *self._finishing]
        return [conn for session in sessions for conn in session.connections()]

    # -- SessionOwner --------------------------------------------------------

    def seat_lost(self, session: GameSession, seat: Seat) -> None:
        if seat.number == 1:
            session.close(
                wire.HOST_DISCONNECTED, wire.CLOSE_REASONS[wire.HOST_DISCONNECTED],
                message=wire.error(wire.HOST_DISCONNECTED, "host disconnected"),
            )
        else:
            self._release(session, seat, wire.OPPONENT_DISCONNECTED)

    def session_changed(self, session: GameSession) -> None:
        self._changed(session)

    def session_completed(self, session: GameSession) -> None:
        # The game is over: it leaves the lobby now, its sockets close shortly.
        self._forget(session)
        self._finishing.add(session)
        self.hooks.game_completed(session)

    def session_closed(self, session: GameSession) -> None:
        self._finishing.discard(session)
        self._forget(session)

    # -- internals -------------------------------------------------------------

    def _release(self, session: GameSession, seat: Seat, close_code: int) -> None:
        self._tokens.pop(seat.token, None)
        try:
            session.release_seat(seat, close_code)
        except RulesError:  # pragma: no cover - only seat 2 is released
            log.failure("could not release seat {seat} of {game_id}", seat=seat.number, game_id=session.game_id)

    def _forget(self, session: GameSession) -> None:
        if self.games.get(session.game_id) is session:
            del self.games[session.game_id]
            for seat in session.seats:
                self._tokens.pop(seat.token, None)
            log.info("game {game_id} removed", game_id=session.game_id)
            self.events.game_removed(session.game_id)
            self.observer.game_removed(session.game_id)
            self._changed()

    def _changed(self, session: Optional[GameSession] = None) -> None:
        self.hooks.lobby_changed(self)
        if session is not None and self.games.get(session.game_id) is session:
            self.observer.game_changed(session)
