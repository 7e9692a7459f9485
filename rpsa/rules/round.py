"""One round: countdown, weapon windows, exchanges, until a fighter is defeated."""

from __future__ import annotations

from enum import IntEnum
from typing import Callable, List, Optional

from rpsa.rules.combat import check_weapon, resolve_exchange, as_number
from rpsa.rules.events import Event, RoundEventType, round_event, state_change
from rpsa.rules.fighters import Fighter

COUNTDOWN_TICKS = 3
WEAPON_COUNTDOWN_TICKS = 3


class RoundState(IntEnum):
    """Round states, with the original engine's numbers."""

    NEW_ROUND = 0
    COUNTDOWN = 1
    WAITING_FOR_WEAPON_SELECTION = 2
    PROCESSING_RESULT = 3
    FINISHED = 4


class Round:
    """The state machine of one round between two fighters.

    ``fighters``: the two seats' fighters (seats are 0 and 1); ``player_ids``:
    only used for the ROUND_FINISHED data; ``draw_botch``: returns the damage
    of a botch (the engine's injected randomness).
    """

    __slots__ = (
        "state", "_fighters", "_player_ids", "_draw_botch", "_countdown",
        "_window_open", "_selections", "_damage_taken", "_paused",
        "winner_seat",
    )

    def __init__(self, fighters: "tuple[Fighter, Fighter]", player_ids, draw_botch: Callable[[], int]):
        self.state = RoundState.NEW_ROUND
        self._fighters = fighters
        self._player_ids = player_ids
        self._draw_botch = draw_botch
        self._countdown = 0
        self._window_open = False
        self._selections: List[Optional[int]] = [None, None]
        self._damage_taken = [0, 0]
        self._paused = False  # the silent tick of PROCESSING_RESULT has passed
        self.winner_seat: Optional[int] = None

    @property
    def window_open(self) -> bool:
        """Whether a weapon selection made now is accepted."""
        return self._window_open

    def health(self, seat: int):
        """Health shown to players: ``max(0, health − damage taken this round)``."""
        shown = self._fighters[seat].health - self._damage_taken[seat]
        return as_number(shown) if shown > 0 else 0

    def _defeated(self, seat: int) -> bool:
        return self._damage_taken[seat] >= self._fighters[seat].health

    def select_weapon(self, seat: int, index: int) -> bool:
        """Record a selection; returns False (and ignores it) while the window is closed."""
        check_weapon(index)
        if not self._window_open:
            return False
        self._selections[seat] = index
        return True

    def selection(self, seat: int) -> Optional[int]:
        """The weapon this seat would throw now (None: a botch)."""
        return self._selections[seat]

    def tick(self) -> List[Event]:
        """Advance the round by one tick and return the events it produced."""
        state = self.state
        if state is RoundState.NEW_ROUND:
            self.state = RoundState.COUNTDOWN
            self._countdown = COUNTDOWN_TICKS
            return [state_change(RoundState.COUNTDOWN, state)]
        if state is RoundState.COUNTDOWN:
            if self._countdown > 0:
                value = self._countdown
                self._countdown -= 1
                return [round_event(RoundEventType.ROUND_COUNTDOWN, {"value": value})]
            return [self._open_window()]
        if state is RoundState.WAITING_FOR_WEAPON_SELECTION:
            if self._countdown > 0:
                value = self._countdown
                self._countdown -= 1
                return [round_event(RoundEventType.WEAPON_COUNTDOWN, {"value": value})]
            return self._resolve()
        if state is RoundState.PROCESSING_RESULT:
            if self._defeated(0) or self._defeated(1):
                return self._finish()
            if not self._paused:
                # The result is on show; picks made from now on count for the next exchange.
                self._paused = True
                self._window_open = True
                return []
            return [self._open_window()]
        return []

    def _open_window(self) -> Event:
        old = self.state
        self.state = RoundState.WAITING_FOR_WEAPON_SELECTION
        self._countdown = WEAPON_COUNTDOWN_TICKS
        self._window_open = True
        return state_change(self.state, old)

    def _resolve(self) -> List[Event]:
        self._window_open = False
        summary, dealt1, dealt2 = resolve_exchange(
            self._fighters[0], self._selections[0],
            self._fighters[1], self._selections[1],
            self._draw_botch,
        )
        taken = self._damage_taken
        taken[0] = as_number(taken[0] + dealt2)
        taken[1] = as_number(taken[1] + dealt1)
        self._selections = [None, None]
        self._paused = False
        self.state = RoundState.PROCESSING_RESULT
        return [
            round_event(RoundEventType.WEAPONS_SELECTED, {"attackSummary": summary}),
            state_change(RoundState.PROCESSING_RESULT, RoundState.WAITING_FOR_WEAPON_SELECTION),
        ]

    def _finish(self) -> List[Event]:
        # Player 2 loses whenever player 2 is defeated: a double knock-out goes to player 1.
        loser = 1 if self._defeated(1) else 0
        self.winner_seat = 1 - loser
        self.state = RoundState.FINISHED
        ids = self._player_ids
        return [
            state_change(RoundState.FINISHED, RoundState.PROCESSING_RESULT),
            round_event(
                RoundEventType.ROUND_FINISHED,
                {"roundWinnerId": ids[self.winner_seat], "roundLoserId": ids[loser]},
            ),
        ]
