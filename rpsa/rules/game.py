"""A whole match: two seats, fighter picks, best of N rounds, driven by ``tick()``."""

from __future__ import annotations

import random
from enum import IntEnum
from typing import Callable, List, Optional, Tuple

from rpsa.rules.combat import BOTCH_DAMAGES, check_weapon
from rpsa.rules.errors import GameFull, GameNotReady, RulesError, UnknownPlayer
from rpsa.rules.events import Event, GameEventType, RoundEventType, game_event, round_event
from rpsa.rules.fighters import Fighter, get_fighter
from rpsa.rules.round import Round, RoundState

_system_random = random.SystemRandom()

VALID_ROUNDS = (1, 3, 5, 7, 9)


def random_botch_damage() -> int:
    """A real random botch base damage, uniform over 19..23 (the default source)."""
    return _system_random.choice(BOTCH_DAMAGES)


class GameState(IntEnum):
    """Game states, with the original engine's numbers."""

    WAITING_FOR_PLAYERS = 0
    CHARACTER_SELECTION = 1
    IN_PROGRESS = 2
    GAME_OVER = 3


class Game:
    """One match of RPSA between two players.

    ``rounds`` is N in "best of N" (odd, 1..9).  ``botch_damage`` is called for
    every botch thrown and returns its base damage; it defaults to a real random
    draw in 19..23.  Nothing happens between calls: the owner calls
    :meth:`start` once both fighters are picked, then :meth:`tick` on its own
    schedule until :attr:`complete`.
    """

    __slots__ = (
        "rounds", "rounds_to_win", "state", "player_ids", "fighters", "round",
        "round_number", "round_wins", "winner_id", "loser_id", "complete",
        "_draw_botch", "ticks",
    )

    def __init__(self, rounds: int = 3, botch_damage: Optional[Callable[[], int]] = None):
        if type(rounds) is not int or rounds not in VALID_ROUNDS:
            raise RulesError(f"rounds must be an odd integer from 1 to 9, got {rounds!r}")
        self.rounds = rounds
        self.rounds_to_win = rounds // 2 + 1
        self.state = GameState.WAITING_FOR_PLAYERS
        self.player_ids: List[str] = []
        self.fighters: List[Optional[Fighter]] = [None, None]
        self.round: Optional[Round] = None
        self.round_number = 0
        self.round_wins = [0, 0]
        self.winner_id: Optional[str] = None
        self.loser_id: Optional[str] = None
        self.complete = False
        self.ticks = 0
        self._draw_botch = botch_damage or random_botch_damage

    # -- seats and picks -------------------------------------------------

    def add_player(self, player_id: str) -> int:
        """Seat a player; returns the seat number (1 or 2)."""
        if player_id in self.player_ids:
            raise RulesError(f"player {player_id!r} is already seated")
        if len(self.player_ids) >= 2:
            raise GameFull("both seats are taken")
        self.player_ids.append(player_id)
        if len(self.player_ids) == 2:
            self.state = GameState.CHARACTER_SELECTION
        return len(self.player_ids)

    def remove_player(self, player_id: str) -> None:
        """Free a seat before the match has started (player 2's seat reopens)."""
        seat = self.seat_of(player_id)
        if self.state >= GameState.IN_PROGRESS:
            raise RulesError("players cannot leave a match that has started")
        del self.player_ids[seat - 1]
        self.fighters[seat - 1] = None
        if seat == 1:
            # The remaining player moves to seat 1, with their pick.
            self.fighters = [self.fighters[1], None]
        self.state = GameState.WAITING_FOR_PLAYERS

    def seat_of(self, player_id: str) -> int:
        """The seat (1 or 2) of this player, or raise UnknownPlayer."""
        try:
            return self.player_ids.index(player_id) + 1
        except ValueError:
            raise UnknownPlayer(f"player {player_id!r} has no seat in this game") from None

    def select_fighter(self, player_id: str, fighter_id: str) -> Fighter:
        """Pick (or change) this player's fighter, before the match starts."""
        seat = self.seat_of(player_id)
        fighter = get_fighter(fighter_id)
        if self.state >= GameState.IN_PROGRESS:
            raise RulesError("fighters cannot be changed once the match has started")
        self.fighters[seat - 1] = fighter
        return fighter

    # -- the match -------------------------------------------------------

    def start(self) -> List[Event]:
        """Start the match (both seats taken, both fighters picked): GAME_STARTED."""
        if self.state >= GameState.IN_PROGRESS:
            raise RulesError("the match has already started")
        if len(self.player_ids) < 2:
            raise GameNotReady("the match needs two players to start")
        if self.fighters[0] is None or self.fighters[1] is None:
            raise GameNotReady("both players must pick a fighter before the match starts")
        self.state = GameState.IN_PROGRESS
        return [game_event(GameEventType.GAME_STARTED, {})]

    def select_weapon(self, player_id: str, index: int) -> bool:
        """Select a weapon (0 rock, 1 paper, 2 scissors).

        Returns True if the selection was taken, False if it was ignored because
        the weapon window is closed.  A later selection replaces an earlier one.
        """
        seat = self.seat_of(player_id)
        check_weapon(index)
        if self.round is None or self.state is not GameState.IN_PROGRESS:
            return False
        return self.round.select_weapon(seat - 1, index)

    def tick(self) -> List[Event]:
        """Advance the match by one tick and return the events it produced."""
        state = self.state
        if state is GameState.IN_PROGRESS:
            self.ticks += 1
            current = self.round
            if current is None:
                events = self._new_round()
                events.extend(self.round.tick())
                return events
            if current.state is RoundState.FINISHED:
                seat = current.winner_seat
                self.round_wins[seat] += 1
                if self.round_wins[seat] >= self.rounds_to_win:
                    self.state = GameState.GAME_OVER
                    self.winner_id = self.player_ids[seat]
                    self.loser_id = self.player_ids[1 - seat]
                    return []
                return self._new_round()
            return current.tick()
        if state is GameState.GAME_OVER:
            if self.complete:
                return []
            self.ticks += 1
            self.complete = True
            return [game_event(GameEventType.GAME_COMPLETE, {"winnerId": self.winner_id, "loserId": self.loser_id})]
        raise GameNotReady("the match has not started")

    def _new_round(self) -> List[Event]:
        self.round_number += 1
        self.round = Round((self.fighters[0], self.fighters[1]), self.player_ids, self._draw_botch)
        return [round_event(RoundEventType.ROUND_STARTED)]

    # -- what can be seen -----------------------------------------------

    @property
    def health(self) -> Tuple[object, object]:
        """Both fighters' health as shown to players (full before the first round)."""
        current = self.round
        if current is None:
            return tuple(f.health if f is not None else 0 for f in self.fighters)  # type: ignore[return-value]
        return current.health(0), current.health(1)

    @property
    def round_state(self) -> Optional[RoundState]:
        """The current round's state, or None before the first round."""
        return None if self.round is None else self.round.state

    @property
    def weapon_window_open(self) -> bool:
        """Whether a weapon selection made now would count."""
        return self.round is not None and self.state is GameState.IN_PROGRESS and self.round.window_open
