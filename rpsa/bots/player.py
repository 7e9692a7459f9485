"""A bot in a seat: a connection-like object that plays through the session like a WebSocket would.

A :class:`BotPlayer` is handed to :meth:`GameSession.connect_player
<rpsa.play.session.GameSession.connect_player>` in place of a WebSocket.  It
receives exactly what a player's socket receives (``send``/``send_message``),
and answers with the same JSON messages a browser sends, through
:meth:`GameSession.received <rpsa.play.session.GameSession.received>`: the
same validation, the same hidden picks.  It costs no socket; its only timers
are its "thinking" delays, on the injected reactor.
"""

from __future__ import annotations

import json
import random
from typing import Any, Dict, List, Optional, Tuple

from twisted.internet import defer
from twisted.logger import Logger

from rpsa.bots.strategy import Exchange, Strategy, weapon_index
from rpsa.play import wire
from rpsa.play.frames import payloads
from rpsa.rules import FIGHTERS, GameEventType, RoundEventType, RoundState
from rpsa.rules.events import GAME_EVENT, ROUND_EVENT

log = Logger()


def decode(prepared) -> List[Dict[str, Any]]:
    """The JSON messages in what a session broadcasts: encoded bytes, a prepared frame or a burst of them."""
    if isinstance(prepared, (bytes, bytearray)):
        return [json.loads(prepared)]
    return [json.loads(payload) for payload in payloads(prepared)]


class BotPlayer:
    """A server-side player holding one seat.

    ``session``: the :class:`~rpsa.play.session.GameSession` it plays in;
    ``user_id``: the seat it holds (it learns its seat number from ``welcome``);
    ``strategy``: a :class:`~rpsa.bots.strategy.Strategy` choosing fighters and
    weapons; ``reactor``: schedules its moves; ``think``: the range of its
    delay before each move, in ticks of ``session.settings.tick`` (a weapon
    window stays open three ticks, so the upper bound must stay below 3);
    ``rng``: draws the delays (seeded in tests).
    """

    role = "player"
    is_bot = True

    def __init__(self, session, user_id: str, strategy: Strategy, reactor,
                 think: Tuple[float, float] = (0.3, 1.5), rng: Optional[random.Random] = None):
        self.session = session
        self.user_id = user_id
        self.strategy = strategy
        self._reactor = reactor
        self._think = think
        self._rng = rng or random.Random()
        self.is_closed: defer.Deferred = defer.Deferred()  # fires with the close code, like Autobahn's
        self.close_code: Optional[int] = None
        self.seat_number: Optional[int] = None
        self.player_ids: List[Optional[str]] = [None, None]  # by seat, from welcome and player_joined
        self.fighters: List[Optional[str]] = [None, None]  # by seat, as far as known
        self.health: List[Optional[float]] = [None, None]
        self.history: List[Exchange] = []  # (mine, theirs), oldest first
        self.ready = False
        self.complete = False
        self._timer = None

    # -- the connection interface the session uses -------------------------------

    def send(self, prepared) -> None:
        """A broadcast frame."""
        for message in decode(prepared):
            if self.close_code is not None:
                break
            self._received(message)

    def send_message(self, message: Dict[str, Any]) -> None:
        """A message for this seat only."""
        if self.close_code is None:
            self._received(json.loads(wire.encode(message)))

    def close(self, code: int, reason: str) -> None:
        """The session closed this seat's connection: stop playing."""
        if self.close_code is not None:
            return
        self.close_code = code
        self._cancel()
        log.debug("bot {user_id} of game {game_id} closed: {code}", user_id=self.user_id,
                  game_id=self.session.game_id, code=code)
        self.is_closed.callback(code)

    # -- what it hears -------------------------------------------------------------

    def _received(self, message: Dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "welcome":
            self._welcome(message["game"])
        elif kind == "player_joined":
            data = message["gameData"]
            self.player_ids = [data["p1Id"], data["p2Id"]]
        elif kind == "select_fighter":
            self._fighter_seen(message["gameData"])
        elif kind == "sync":
            data = message["gameData"]
            self.health = [data["p1Health"], data["p2Health"]]
        elif kind == ROUND_EVENT:
            self._round_event(message["eventData"])
        elif kind == GAME_EVENT and message["eventData"]["type"] == GameEventType.GAME_COMPLETE:
            self.complete = True
            self._cancel()
        elif kind == "error":
            log.debug("bot {user_id} was told: {message}", user_id=self.user_id, message=message.get("message"))

    def _welcome(self, game: Dict[str, Any]) -> None:
        for player in game["players"]:
            index = player["seat"] - 1
            self.player_ids[index] = player["user_id"]
            if player["user_id"] == self.user_id:
                self.seat_number = player["seat"]
                self.ready = player["ready"]
            self.fighters[index] = player["fighter"]
            self.health[index] = player["health"]
        state = game["state"]
        if state == "in_progress":
            self.ready = True
            if game["round_state"] == RoundState.WAITING_FOR_WEAPON_SELECTION:
                self._later(self._throw)  # taking over in the middle of an exchange
        elif state in ("waiting_for_players", "character_selection") and not self.ready:
            self._later(self._pick_fighter)

    def _fighter_seen(self, data: Dict[str, Any]) -> None:
        if self.seat_number is None:
            return
        index = 0 if data["playerId"] == self.player_ids[0] else 1
        self.fighters[index] = data["selectedCharacterId"]
        if self._opponent_fighter() is not None and self._my_fighter() is not None and not self.ready:
            self._later(self._answer_and_ready)

    def _round_event(self, event: Dict[str, Any]) -> None:
        kind, data = event["type"], event.get("data") or {}
        if kind == RoundEventType.STATE_CHANGE and data["newState"] == RoundState.WAITING_FOR_WEAPON_SELECTION:
            self._later(self._throw)
        elif kind == RoundEventType.WEAPONS_SELECTED:
            summary = data["attackSummary"]
            one = weapon_index(summary["p1Selection"]["weaponId"])
            two = weapon_index(summary["p2Selection"]["weaponId"])
            self.history.append((one, two) if self.seat_number == 1 else (two, one))
        elif kind == RoundEventType.ROUND_STARTED:
            me, them = self._my_fighter(), self._opponent_fighter()
            if me is not None and them is not None:
                self.health = [None, None]
                self.health[self.seat_number - 1] = FIGHTERS[me].health
                self.health[2 - self.seat_number] = FIGHTERS[them].health

    # -- what it does --------------------------------------------------------------

    def _pick_fighter(self) -> None:
        self._send({"type": "select_fighter", "characterId": self.strategy.choose_fighter(None)})

    def _answer_and_ready(self) -> None:
        self.ready = True  # first: changing the pick below tells everyone both picks again
        choice = self.strategy.choose_fighter(FIGHTERS[self._opponent_fighter()])
        if choice != self._my_fighter():
            self._send({"type": "select_fighter", "characterId": choice})
        self._send({"type": "start_battle"})

    def _throw(self) -> None:
        me, them = self._my_fighter(), self._opponent_fighter()
        if me is None or them is None or self.complete:
            return
        mine, theirs = self.seat_number - 1, 2 - self.seat_number
        health = (_or(self.health[mine], FIGHTERS[me].health), _or(self.health[theirs], FIGHTERS[them].health))
        weapon = self.strategy.choose_weapon(FIGHTERS[me], FIGHTERS[them], self.history, health)
        self._send({"type": "select_weapon", "index": weapon})

    def _send(self, message: Dict[str, Any]) -> None:
        if self.close_code is None:
            self.session.received(self, wire.encode(message), False)

    def _later(self, action) -> None:
        self._cancel()
        low, high = self._think
        delay = self._rng.uniform(low, high) * self.session.settings.tick
        self._timer = self._reactor.callLater(delay, self._run, action)

    def _run(self, action) -> None:
        self._timer = None
        if self.close_code is not None:
            return
        try:
            action()
        except Exception:
            log.failure("bot {user_id} of game {game_id} failed to move", user_id=self.user_id,
                        game_id=self.session.game_id)

    def _cancel(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    # -- what it knows ---------------------------------------------------------------

    def _my_fighter(self) -> Optional[str]:
        return None if self.seat_number is None else self.fighters[self.seat_number - 1]

    def _opponent_fighter(self) -> Optional[str]:
        return None if self.seat_number is None else self.fighters[2 - self.seat_number]

    def __repr__(self) -> str:
        return f"<BotPlayer {self.user_id!r} ({self.strategy.level}) in {self.session.game_id!r}>"


def _or(value, default):
    return default if value is None else value
