"""How a bot plays: pure Python strategies over the rules engine's numbers (no Twisted).

A strategy answers two questions: which fighter to pick (blind, then once more
when the opponent's pick is known, as the protocol allows before
``start_battle``), and which weapon to throw in the next exchange, given both
fighters and the match's history of exchanges so far.  It sees only what any
player sees: the fighter table, and the weapons each side threw in past
exchanges (never the opponent's pick for the exchange to come).

:func:`play_match` drives the pure engine with two strategies; the tests use it
to measure one level against another.
"""

from __future__ import annotations

import random
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from rpsa.rules import FIGHTERS, WEAPON_NAMES, Fighter, Game, resolve_exchange

WEAPONS = (0, 1, 2)
#: One exchange as a player remembers it: (my weapon, their weapon); None is a botch.
Exchange = Tuple[Optional[int], Optional[int]]


def _no_botch() -> int:  # pragma: no cover - both sides throw a weapon
    raise AssertionError("a strategy never reckons with a botch")


class Strategy:
    """A way to play.  ``rng`` is a :class:`random.Random` (seeded in tests)."""

    #: The level name used on the wire (``"level"`` on create).
    level = "base"

    def __init__(self, rng: Optional[random.Random] = None):
        self.rng = rng or random.Random()

    def choose_fighter(self, opponent: Optional[Fighter] = None) -> str:
        """The fighter id to pick; ``opponent`` is their fighter once it is known (else None)."""
        raise NotImplementedError

    def choose_weapon(self, me: Fighter, opponent: Fighter, history: Sequence[Exchange],
                      health: Tuple[float, float]) -> int:
        """The weapon (0 rock, 1 paper, 2 scissors) for the next exchange.

        ``history`` is every exchange of the match so far, oldest first;
        ``health`` is (mine, theirs) as shown now.
        """
        raise NotImplementedError


class RandomStrategy(Strategy):
    """Any fighter, any weapon, uniformly at random; keeps its first pick.

    ``rng``: the source of randomness (a seeded ``random.Random`` in tests).
    """

    level = "random"

    def __init__(self, rng: Optional[random.Random] = None):
        super().__init__(rng)
        self._fighter: Optional[str] = None

    def choose_fighter(self, opponent: Optional[Fighter] = None) -> str:
        if self._fighter is None:
            self._fighter = self.rng.choice(sorted(FIGHTERS))
        return self._fighter

    def choose_weapon(self, me, opponent, history, health) -> int:
        return self.rng.choice(WEAPONS)


class CounterStrategy(Strategy):
    """Reads the weapon figures and the opponent's habits.

    It plays to win the round, not merely the next exchange: from both
    fighters' health as shown, it computes (exactly, over every way the round
    can go on) the chance of winning the round with each weapon, given a
    prediction of the opponent's throws, and throws the best one.  That
    catches what the damage figures hide, such as a modifier that saves a
    whole hit (35 damage downs 100 health in three hits, 32.5 needs four).

    - Prediction: how often the opponent threw each weapon, and what they
      threw after their previous throw, both smoothed by ``prior`` (an opponent
      without habits looks uniform).
    - Fighter: blind, the one with the best average chance against every
      fighter; once the opponent's is known, the best answer to it.
    - With probability ``surprise`` it throws at random instead, so that a
      person cannot simply learn it.

    ``rng``: the source of randomness (ties, and the fighter when nothing
    else decides it).
    """

    level = "strategy"
    MAX_SOLVED = 512

    def __init__(self, rng: Optional[random.Random] = None, surprise: float = 0.05, prior: float = 2.0):
        super().__init__(rng)
        self.surprise = surprise
        self.prior = prior
        self._solved: Dict[Tuple[str, str, Tuple[float, float, float]], Dict[Tuple[float, float], float]] = {}
        self._outcomes: Dict[Tuple[str, str], Dict[Tuple[int, int], Tuple[float, float]]] = {}

    def _damage(self, me: Fighter, them: Fighter):
        """(dealt, taken) for every pair of weapons, from the engine's own damage rules."""
        key = (me.id, them.id)
        table = self._outcomes.get(key)
        if table is None:
            table = self._outcomes[key] = {
                (m, t): resolve_exchange(me, m, them, t, _no_botch)[1:] for m in WEAPONS for t in WEAPONS
            }
        return table

    def round_chances(self, me: Fighter, them: Fighter, health: Tuple[float, float],
                      odds: Sequence[float]) -> List[float]:
        """For each of my weapons, the chance of winning the round from ``health`` (mine, theirs).

        The opponent throws by ``odds`` (rounded to twelfths) in every
        exchange to come; I throw the best weapon in each.  A draw leaves the
        health as it is.  Solved positions are kept per matchup and odds (at
        most ``MAX_SOLVED`` sets), so a match costs a few solves.
        """
        odds = _rounded(odds)
        key = (me.id, them.id, odds)
        memo = self._solved.get(key)
        if memo is None:
            if len(self._solved) >= self.MAX_SOLVED:
                self._solved.clear()
            memo = self._solved[key] = {}
        damage = self._damage(me, them)

        def after(m: int, mine: float, theirs: float) -> float:
            draw = odds[m]
            if draw >= 1.0:
                return 0.0  # a certain draw for ever: no way to win with this weapon
            total = 0.0
            for t in WEAPONS:
                if t != m:
                    dealt, taken = damage[(m, t)]
                    total += odds[t] * best(mine - taken, theirs - dealt)
            return total / (1.0 - draw)

        def best(mine: float, theirs: float) -> float:
            if theirs <= 0:
                return 1.0
            if mine <= 0:
                return 0.0
            position = (round(mine, 6), round(theirs, 6))
            value = memo.get(position)
            if value is None:
                value = memo[position] = max(after(m, mine, theirs) for m in WEAPONS)
            return value

        return [after(m, health[0], health[1]) for m in WEAPONS]

    def _matchup(self, me: Fighter, them: Fighter) -> float:
        return max(self.round_chances(me, them, (me.health, them.health), (1 / 3, 1 / 3, 1 / 3)))

    def choose_fighter(self, opponent: Optional[Fighter] = None) -> str:
        candidates = sorted(FIGHTERS.values(), key=lambda f: f.id)
        if opponent is None:
            scores = {f.id: sum(self._matchup(f, o) for o in candidates) for f in candidates}
        else:
            scores = {f.id: self._matchup(f, opponent) for f in candidates}
        best = max(scores.values())
        return self.rng.choice([fid for fid, score in scores.items() if score >= best - 1e-9])

    def predict(self, history: Sequence[Exchange]) -> List[float]:
        """The probability of each of the opponent's weapons in the next exchange."""
        theirs = [t for _, t in history if t is not None]
        counts = [self.prior] * 3
        for t in theirs:
            counts[t] += 1
        if theirs:
            last = theirs[-1]
            for before, after in zip(theirs, theirs[1:]):
                if before == last:
                    counts[after] += 2  # what they threw after this same throw weighs more
        total = sum(counts)
        return [c / total for c in counts]

    def choose_weapon(self, me, opponent, history, health) -> int:
        if self.rng.random() < self.surprise:
            return self.rng.choice(WEAPONS)
        odds = self.predict(history)
        chances = self.round_chances(me, opponent, health, odds)
        damage = self._damage(me, opponent)
        # Equal chances (a likely draw costs nothing in the long run): prefer the
        # better next exchange, the damage share dealt minus the share taken.
        score = {
            m: (round(chances[m], 9),
                round(sum(odds[t] * (damage[(m, t)][0] / opponent.health - damage[(m, t)][1] / me.health)
                          for t in WEAPONS), 9))
            for m in WEAPONS
        }
        best = max(score.values())
        return self.rng.choice([m for m in WEAPONS if score[m] == best])


def _rounded(odds: Sequence[float], steps: int = 12) -> Tuple[float, float, float]:
    """``odds`` rounded to multiples of 1/steps (each at least one step), summing to 1."""
    counts = [max(1, round(p * steps)) for p in odds]
    total = sum(counts)
    return (counts[0] / total, counts[1] / total, counts[2] / total)


#: Strategies by level name; the first is the default.
LEVELS: Dict[str, Callable[[Optional[random.Random]], Strategy]] = {
    CounterStrategy.level: CounterStrategy,
    RandomStrategy.level: RandomStrategy,
}
DEFAULT_LEVEL = CounterStrategy.level


def make_strategy(level: Optional[str] = None, rng: Optional[random.Random] = None) -> Strategy:
    """The strategy of this level (the default when None); raises KeyError for an unknown level."""
    return LEVELS[level or DEFAULT_LEVEL](rng)


def play_match(first: Strategy, second: Strategy, rounds: int = 3,
               botch_damage: Optional[Callable[[], int]] = None, max_ticks: int = 100_000) -> int:
    """Play one match on the pure engine; returns the winner's seat (1 or 2).

    Each side picks blind, then may change its pick once it sees the other's;
    each throws once per weapon window, as soon as it opens.
    """
    game = Game(rounds, botch_damage)
    game.add_player("p1")
    game.add_player("p2")
    players = (first, second)
    blind = [first.choose_fighter(), second.choose_fighter()]
    picks = [players[0].choose_fighter(FIGHTERS[blind[1]]), players[1].choose_fighter(FIGHTERS[blind[0]])]
    for player_id, fighter_id in zip(("p1", "p2"), picks):
        game.select_fighter(player_id, fighter_id)
    fighters = game.fighters
    game.start()
    histories: Tuple[List[Exchange], List[Exchange]] = ([], [])
    thrown = False
    for _ in range(max_ticks):
        if game.complete:
            return 1 if game.winner_id == "p1" else 2
        if game.weapon_window_open and not thrown:
            one, two = game.health
            game.select_weapon("p1", first.choose_weapon(fighters[0], fighters[1], histories[0], (one, two)))
            game.select_weapon("p2", second.choose_weapon(fighters[1], fighters[0], histories[1], (two, one)))
            thrown = True
        for event in game.tick():
            if event.data and "attackSummary" in event.data:
                summary = event.data["attackSummary"]
                one = weapon_index(summary["p1Selection"]["weaponId"])
                two = weapon_index(summary["p2Selection"]["weaponId"])
                histories[0].append((one, two))
                histories[1].append((two, one))
                thrown = False
    raise RuntimeError(f"the match did not end within {max_ticks} ticks")


def weapon_index(weapon_name: str) -> Optional[int]:
    """A weapon's index from its name in WEAPONS_SELECTED (None for a botch)."""
    return WEAPON_NAMES.index(weapon_name) if weapon_name in WEAPON_NAMES else None
