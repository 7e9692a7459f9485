"""One game's room: seats, connections, spectators, the engine, and the wire flow.

A :class:`GameSession` knows nothing of HTTP or of how it was created.  Its
*owner* (the lobby, or a match child) decides what happens when a seat is lost
for good, and hears about every change.  What players and spectators see of
it is built by :mod:`rpsa.play.views`.  Connections are anything with
``send(prepared)`` (a frame, or a :class:`~rpsa.play.frames.Burst` of the
frames of one tick), ``send_message(dict)`` and ``close(code, reason)`` (see
:mod:`rpsa.play.websocket`).
"""

from __future__ import annotations

import secrets
from typing import Any, Callable, Dict, List, Optional, Set

from twisted.logger import Logger

from rpsa.play import views, wire
from rpsa.rules import Game, GameState, RoundEventType, RulesError
from rpsa.rules.events import ROUND_EVENT
from rpsa.play.hooks import GameEvents
from rpsa.play.lifecycle import report_engine_events
from rpsa.play.seat import Seat, SeatTaken, new_token
from rpsa.play.settings import GameSettings

log = Logger()

STATE_NAMES = {
    GameState.WAITING_FOR_PLAYERS: "waiting_for_players",
    GameState.CHARACTER_SELECTION: "character_selection",
    GameState.IN_PROGRESS: "in_progress",
    GameState.GAME_OVER: "game_over",
}


class SessionOwner:
    """What a session tells its owner.  The default does nothing."""

    def seat_lost(self, session: "GameSession", seat: Seat) -> None:
        """``seat``'s player never came, or left and did not return within the grace."""

    def session_changed(self, session: "GameSession") -> None:
        """A connection came or went, or the game's state changed."""

    def session_completed(self, session: "GameSession") -> None:
        """GAME_COMPLETE was sent; the session closes its connections shortly."""

    def session_closed(self, session: "GameSession") -> None:
        """The session is over: every connection closed, every timer cancelled."""


class GameSession:
    """A game: two seats, spectators, the rules engine and the message flow.

    ``game_id`` names it and ``rounds`` is the match length;
    ``reactor`` runs its timers (absence, closing); ``settings`` are the
    :class:`~rpsa.play.settings.GameSettings`; ``scheduler`` (a
    :class:`~rpsa.play.ticker.TickScheduler`) ticks it while the match runs;
    ``frames`` turns messages into what connections send, built once for
    every receiver (``message(dict)``, ``event(event)``, ``sync(health)``: a
    :class:`~rpsa.play.frames.FramePreparer`, shared with the connections
    as ``frames``); ``owner`` is told what happens (a :class:`SessionOwner`).
    ``host_first``: player 2 may not connect before the host has (the
    original's rule, close code 4000); a match child lets either come first.
    ``created_at`` defaults to now; ``botch_damage`` is the engine's source
    of botch damage (random by default); ``bots`` (:class:`rpsa.bots.roster.Bots`)
    finish a match for players who left (``--bot-takeover``, ``finished_by_bot``).
    ``events`` hears the game's lifecycle (a :class:`~rpsa.play.hooks.GameEvents`).
    ``close_delay`` overrides the settings' delay between GAME_COMPLETE and closing
    (a game of the original's routes lingers; it closes earlier once its last
    connection is gone).  ``shared_token``: the host's token is the game's, opening
    whichever seat the handshake's ``user_id`` holds (the original's trust model, opt-in).
    """

    def __init__(
        self,
        game_id: str,
        rounds: int,
        reactor,
        settings: GameSettings,
        scheduler,
        frames,
        owner: Optional[SessionOwner] = None,
        host_first: bool = True,
        created_at: Optional[float] = None,
        botch_damage: Optional[Callable[[], int]] = None,
        bots=None,
        events: Optional[GameEvents] = None,
        close_delay: Optional[float] = None,
        shared_token: bool = False,
    ):
        self.game_id = game_id
        self.rounds = rounds
        self._reactor = reactor
        self.settings = settings
        self._scheduler = scheduler
        self.frames = frames
        self.owner = owner or SessionOwner()
        self.host_first = host_first
        self.created_at = reactor.seconds() if created_at is None else created_at
        self._botch_damage = botch_damage
        self._bots = bots
        self.finished_by_bot: List[str] = []
        self.events = events or GameEvents()
        self.close_delay = settings.close_delay if close_delay is None else close_delay
        self.shared_token = shared_token
        self.engine = Game(rounds, botch_damage)
        self.seats: List[Seat] = []
        self.spectators: Set[Any] = set()
        self.closed = False
        self._close_timer = None

    # -- seats -------------------------------------------------------------

    def add_seat(self, user_id: str, username: str, token: Optional[str] = None) -> Seat:
        """Give a user the next free seat; its absence timer starts now."""
        if any(s.user_id == user_id for s in self.seats):
            raise SeatTaken(f"user {user_id!r} already has a seat in this game")
        self.engine.add_player(user_id)  # raises GameFull
        seat = Seat(len(self.seats) + 1, user_id, username, token or new_token())
        self.seats.append(seat)
        self._start_absence(seat, self.settings.join_timeout)
        self.owner.session_changed(self)
        return seat

    def seat_for_user(self, user_id: str) -> Optional[Seat]:
        """The seat this user holds, if any."""
        for seat in self.seats:
            if seat.user_id == user_id:
                return seat
        return None

    def seat_for_token(self, token: str, user_id: Optional[str] = None) -> Optional[Seat]:
        """The seat this token opens (``user_id``'s, for a shared token), compared in constant time, or None."""
        found = None
        for seat in self.seats:
            if secrets.compare_digest(seat.token.encode(), token.encode()):
                found = seat
        if found is not None and found.number == 1 and self.shared_token and user_id is not None:
            return self.seat_for_user(user_id)
        return found

    def release_seat(self, seat: Seat, close_code: int) -> None:
        """Free player 2's seat; the game is open again (the original's 4003 rules).

        The departing player's connection (if any) is closed with ``close_code``;
        the host and spectators are told ``4003``.  A match already running is
        reset: the host keeps the seat, picks and readiness are cleared.
        """
        if seat not in self.seats or seat.number != 2:
            raise RulesError("only player 2's seat can be released")
        self._cancel_absence(seat)
        self.seats.remove(seat)
        if seat.conn is not None:
            conn, seat.conn = seat.conn, None
            conn.close(close_code, wire.CLOSE_REASONS.get(close_code, "removed"))
        host = self.seats[0]
        if self.engine.state >= GameState.IN_PROGRESS:
            self._scheduler.remove(self)
        self.engine = Game(self.rounds, self._botch_damage)
        self.engine.add_player(host.user_id)
        host.ready = False
        self._send_to(self.connections(), wire.error(wire.OPPONENT_DISCONNECTED, "opponent disconnected"))
        self.owner.session_changed(self)

    # -- connections -------------------------------------------------------

    def connect_player(self, seat: Seat, conn) -> None:
        """A player's connection opened (token already checked)."""
        if self.closed or seat not in self.seats:
            conn.close(wire.GAME_REMOVED, wire.CLOSE_REASONS[wire.GAME_REMOVED])
            return
        host = self.seats[0]
        if self.host_first and seat.number == 2 and not host.ever_connected:
            conn.close(wire.HOST_NOT_CONNECTED, wire.CLOSE_REASONS[wire.HOST_NOT_CONNECTED])
            return
        previous = seat.conn
        seat.conn = conn
        seat.ever_connected = True
        self._cancel_absence(seat)
        if previous is not None:
            previous.close(wire.REPLACED, wire.CLOSE_REASONS[wire.REPLACED])
        conn.send_message(views.welcome(self, seat))
        self._broadcast(views.player_joined(self))
        (self.events.creator_joined if seat.number == 1 else self.events.all_players_joined)(self.game_id)
        log.info("player {seat} connected to game {game_id}", seat=seat.number, game_id=self.game_id)
        self.owner.session_changed(self)

    def connect_spectator(self, conn) -> None:
        """A spectator's connection opened (limit already checked)."""
        if self.closed:
            conn.close(wire.GAME_REMOVED, wire.CLOSE_REASONS[wire.GAME_REMOVED])
            return
        self.spectators.add(conn)
        conn.send_message(views.welcome(self, None))
        self.owner.session_changed(self)

    def spectator_room(self) -> bool:
        """Whether one more spectator may join."""
        return len(self.spectators) < self.settings.max_spectators

    def disconnected(self, conn) -> None:
        """A connection closed, for whatever reason."""
        if conn in self.spectators:
            self.spectators.discard(conn)
            self.owner.session_changed(self)
        for seat in self.seats:
            if seat.conn is conn:
                seat.conn = None
                if not self.closed and not self.engine.complete:
                    if seat.number == 2:
                        self.events.player_disconnected(self.game_id, seat.user_id)
                    grace = self.settings.reconnect_grace if self._bots is None else self._bots.reconnect_grace(self)
                    self._start_absence(seat, grace)
                    self._broadcast(wire.player_left(seat.user_id, grace))
                    log.info("player {seat} left game {game_id}", seat=seat.number, game_id=self.game_id)
                    self.owner.session_changed(self)
        if self.engine.complete and not self.closed and not self.connections():
            self.close(wire.NORMAL, wire.CLOSE_REASONS[wire.NORMAL])  # everyone has seen the result

    def _start_absence(self, seat: Seat, seconds: float) -> None:
        self._cancel_absence(seat)
        seat.absence_timer = self._reactor.callLater(seconds, self._absence_expired, seat)

    @staticmethod
    def _cancel_absence(seat: Seat) -> None:
        timer, seat.absence_timer = seat.absence_timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _absence_expired(self, seat: Seat) -> None:
        seat.absence_timer = None
        if self.closed or seat not in self.seats or seat.connected:
            return
        if self._bots is not None and self._bots.take_over(self, seat):
            return
        log.info("seat {seat} of game {game_id} lost", seat=seat.number, game_id=self.game_id)
        self.owner.seat_lost(self, seat)

    # -- messages ----------------------------------------------------------

    def received(self, conn, payload: bytes, is_binary: bool) -> bool:
        """One message from a connection (within the size and rate limits); False if it was refused."""
        seat = self._seat_of(conn)
        try:
            kind, argument = wire.parse_client_message(payload, is_binary)
            if seat is None:
                raise wire.BadMessage("spectator", "spectators cannot play; the message was ignored")
            if kind == wire.SELECT_WEAPON:
                self._select_weapon(seat, argument)
            elif kind == wire.SELECT_FIGHTER:
                self._select_fighter(seat, argument)
            else:
                self._start_battle(seat)
        except wire.BadMessage as e:
            conn.send_message(wire.error(e.code, e.message))
            return False
        return True

    def _seat_of(self, conn) -> Optional[Seat]:
        for seat in self.seats:
            if seat.conn is conn:
                return seat
        return None

    def _select_fighter(self, seat: Seat, fighter_id: str) -> None:
        if self.engine.state >= GameState.IN_PROGRESS:
            raise wire.BadMessage("match_started", "fighters cannot be changed once the match has started")
        if seat.ready:
            raise wire.BadMessage("already_ready", "fighters cannot be changed after start_battle")
        self.engine.select_fighter(seat.user_id, fighter_id)
        self.events.fighter_selected(self.game_id, seat.user_id, fighter_id)
        other = self._other(seat)
        mine = wire.fighter_selected(seat.user_id, fighter_id)
        if other is not None and self.engine.fighters[other.number - 1] is not None:
            # Both picks are made: everyone learns both.
            theirs = wire.fighter_selected(other.user_id, self.engine.fighters[other.number - 1].id)
            first, second = (mine, theirs) if seat.number == 1 else (theirs, mine)
            audience = self.connections()
            self._send_to(audience, first)
            self._send_to(audience, second)
        else:
            seat.conn.send_message(mine)
        self.owner.session_changed(self)

    def _start_battle(self, seat: Seat) -> None:
        if self.engine.state >= GameState.IN_PROGRESS:
            return  # a repeat; the match is already on
        if self.engine.fighters[seat.number - 1] is None:
            raise wire.BadMessage("fighter_not_selected", "select a fighter before start_battle")
        seat.ready = True
        self.events.player_ready(self.game_id, seat.user_id)
        if len(self.seats) == 2 and all(s.ready for s in self.seats):
            self._broadcast_events(self.engine.start())
            self._scheduler.add(self)
            log.info("match started in game {game_id}", game_id=self.game_id)
        self.owner.session_changed(self)

    def _select_weapon(self, seat: Seat, index: int) -> None:
        if self.engine.state is not GameState.IN_PROGRESS:
            raise wire.BadMessage("match_not_started", "weapons can be selected only during the match")
        self.engine.select_weapon(seat.user_id, index)

    def _other(self, seat: Seat) -> Optional[Seat]:
        for other in self.seats:
            if other is not seat:
                return other
        return None

    # -- ticking and broadcasting -----------------------------------------

    def tick(self) -> None:
        """One engine tick (called by the scheduler)."""
        engine = self.engine
        events = engine.tick()
        if events:
            self._broadcast_events(events)
        if engine.complete:
            self._scheduler.remove(self)
            self._complete()

    def _broadcast_events(self, events) -> None:
        report_engine_events(self.events, self, events)
        audience = self.connections()
        if not audience:
            return
        frames = self.frames
        burst = []
        for event in events:
            burst.append(frames.event(event))
            if event.classtype == ROUND_EVENT and event.type == RoundEventType.STATE_CHANGE:
                burst.append(frames.sync(self.engine.health))
        self._send_frame(audience, frames.burst(burst))

    def _complete(self) -> None:
        log.info("match ended in game {game_id}: winner {winner}", game_id=self.game_id, winner=self.engine.winner_id)
        for seat in self.seats:
            self._cancel_absence(seat)
        self.owner.session_completed(self)
        self._close_timer = self._reactor.callLater(
            self.close_delay, self.close, wire.NORMAL, wire.CLOSE_REASONS[wire.NORMAL]
        )

    def connections(self) -> List[Any]:
        """Every open connection: players and spectators."""
        audience = [s.conn for s in self.seats if s.conn is not None]
        audience.extend(self.spectators)
        return audience

    def _send_to(self, conns, message: Dict[str, Any]) -> None:
        if conns:
            self._send_frame(conns, self.frames.message(message))

    @staticmethod
    def _send_frame(conns, prepared) -> None:
        for conn in conns:
            conn.send(prepared)

    def _broadcast(self, message: Dict[str, Any]) -> None:
        self._send_to(self.connections(), message)

    # -- state (what viewers see of it: rpsa.play.views) ------------------

    @property
    def state(self) -> str:
        """The game's state name."""
        return STATE_NAMES[self.engine.state]

    @property
    def joinable(self) -> bool:
        """A free seat, and a connected creator."""
        return len(self.seats) == 1 and self.seats[0].connected and not self.closed

    # -- the end -----------------------------------------------------------

    def close(self, code: int, reason: str, message: Optional[Dict[str, Any]] = None) -> None:
        """End the session: optionally send ``message``, close every connection, cancel every timer."""
        if self.closed:
            return
        self.closed = True
        self._scheduler.remove(self)
        if self._close_timer is not None and self._close_timer.active():
            self._close_timer.cancel()
        self._close_timer = None
        audience = self.connections()
        if message is not None:
            self._send_to(audience, message)
        for seat in self.seats:
            self._cancel_absence(seat)
            seat.conn = None
        self.spectators.clear()
        for conn in audience:
            conn.close(code, reason)
        self.owner.session_closed(self)

    def __repr__(self) -> str:
        return f"<GameSession {self.game_id!r} {self.state}>"
